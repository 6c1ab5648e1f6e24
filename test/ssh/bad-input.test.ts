/**
 * Bad input to a real holder: hand-made frame streams fed to `serveConnection` over in-memory
 * streams and to a real `intermezzo serve --stdio DIR` child. For every case: the error code (from the
 * holder's connection failure, an error reply, or a record's result), that the holder does not crash
 * (the connection ends cleanly, the lock is released and a new connection is served), and that nothing
 * outside the file set changed, nor anything inside where a record was refused.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ImzError } from "../../src/errors.js";
import { FrameKind, MAX_HEADER, MAX_PAYLOAD, encodeFrame, encodePreamble } from "../../src/ssh/codec.js";
import { serveConnection } from "../../src/sync/serve.js";
import { hashBuffer } from "../../src/journal/content-hash.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { RawPeer, holderState, makeFixture, snapshot, type Fixture } from "./raw-peer.js";
import { prefix } from "../helpers/frames.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");


function raw(kind: number, header: string, from = 1, to = 0): Buffer {
  const h = Buffer.from(header, "utf8");
  return Buffer.concat([prefix(kind, h.length, 0, from, to), h]);
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** A holder served in-process on a pair of in-memory streams. */
function serveInMemory(fx: Fixture): { peer: RawPeer; done: Promise<Error | undefined> } {
  const toServer = new PassThrough();
  const fromServer = new PassThrough();
  const done = serveConnection(toServer, fromServer, () => fx.holder, { owner: false });
  return { peer: new RawPeer(toServer, fromServer), done };
}

/** Proves the holder still serves: a fresh, well-behaved connection attaches and closes. */
async function stillServes(fx: Fixture): Promise<void> {
  const { peer, done } = serveInMemory(fx);
  peer.hello();
  const r = await peer.attach();
  assert.equal(r.ok, true, `a new connection was refused: ${JSON.stringify(r.error)}`);
  assert.equal((await peer.call({ op: "close" })).ok, true);
  peer.end();
  await within(done, 10_000, "the well-behaved connection to end");
}

function codeOf(err: Error | undefined): string {
  assert.ok(err instanceof ImzError, `expected an ImzError, got ${String(err)}`);
  return err.code;
}

/**
 * Runs `body` on a fresh fixture (with the snapshot taken before it), checks that nothing changed on
 * disk or in the holder's log (unless `unchanged: false`: then `body` checks), that the lock was
 * released and that the holder serves a new connection; cleans up.
 */
async function withFixture(body: (fx: Fixture, before: string) => Promise<void>, opts: { unchanged?: boolean } = {}): Promise<void> {
  const fx = await makeFixture();
  try {
    const before = snapshot(fx);
    const head = holderState(fx).head;
    await body(fx, before);
    if (opts.unchanged !== false) {
      assert.equal(snapshot(fx), before, "something changed on disk");
      assert.equal(holderState(fx).head, head, "the holder journaled something");
    }
    assert.equal(holderState(fx).locked, false, "the holder's lock was left behind");
    await stillServes(fx);
  } finally {
    fx.cleanup();
  }
}

interface StreamCase {
  name: string;
  code: string;
  /** Handshake (preamble + hello) and attach before the bad bytes. */
  attached: boolean;
  bytes: () => Buffer[];
  /** End our side after the bytes. */
  end?: boolean;
}

const STREAM_CASES: StreamCase[] = [
  { name: "a header longer than MAX_HEADER", code: "FRAME_TOO_LARGE", attached: true, bytes: () => [prefix(FrameKind.REQUEST, MAX_HEADER + 1, 0)] },
  { name: "a header length of 4 GiB - 1", code: "FRAME_TOO_LARGE", attached: true, bytes: () => [prefix(FrameKind.REQUEST, 0xffffffff, 0)] },
  { name: "a payload longer than MAX_PAYLOAD", code: "FRAME_TOO_LARGE", attached: true, bytes: () => [prefix(FrameKind.DATA, 0, MAX_PAYLOAD + 1), Buffer.alloc(4096)] },
  { name: "an unknown frame kind (9)", code: "FRAME_UNKNOWN_KIND", attached: true, bytes: () => [raw(9, '{"op":"updates"}')] },
  { name: "an unknown frame kind (0)", code: "FRAME_UNKNOWN_KIND", attached: true, bytes: () => [prefix(0, 0, 0)] },
  {
    name: "a reintegrate frame cut in the middle, then end of stream", code: "CONNECTION_LOST", attached: true, end: true,
    bytes: () => {
      const f = encodeFrame(FrameKind.REQUEST, 5, 0, { op: "reintegrate", records: [] });
      return [f.subarray(0, f.length - 3)];
    },
  },
  { name: "a stream ending inside a frame prefix", code: "CONNECTION_LOST", attached: true, end: true, bytes: () => [prefix(FrameKind.REQUEST, 10, 0).subarray(0, 9)] },
  { name: "a header that is not JSON", code: "FRAME_BAD_HEADER", attached: true, bytes: () => [raw(FrameKind.REQUEST, "{op: updates, since: 0")] },
  { name: "a request header without an op", code: "FRAME_BAD_HEADER", attached: true, bytes: () => [raw(FrameKind.REQUEST, '{"since":0,"limit":1}')] },
  { name: "a request header that is JSON null", code: "FRAME_BAD_HEADER", attached: true, bytes: () => [raw(FrameKind.REQUEST, "null")] },
  { name: "a request header with a 100-character op", code: "FRAME_BAD_HEADER", attached: true, bytes: () => [raw(FrameKind.REQUEST, JSON.stringify({ op: "x".repeat(100) }))] },
  { name: "a reply that is not a reply", code: "FRAME_BAD_HEADER", attached: true, bytes: () => [raw(FrameKind.REPLY, '{"ok":"yes"}', 1, 1)] },
  { name: "a data frame with a header", code: "FRAME_BAD_HEADER", attached: true, bytes: () => [raw(FrameKind.DATA, "{}")] },
  { name: "data for a session that does not exist", code: "SESSION_UNKNOWN", attached: true, bytes: () => [encodeFrame(FrameKind.DATA, 77, 0, undefined, Buffer.from("x"))] },
  { name: "garbage instead of the magic, then end of stream", code: "HANDSHAKE_FAILED", attached: false, end: true, bytes: () => [Buffer.from("bash: intermezzo: command not found\n")] },
  { name: "70 KiB of garbage and no magic", code: "HANDSHAKE_FAILED", attached: false, bytes: () => [Buffer.alloc(70 << 10, "z")] },
  { name: "a stream ending inside the magic", code: "HANDSHAKE_FAILED", attached: false, end: true, bytes: () => [encodePreamble().subarray(0, 5)] },
  { name: "a wrong protocol version", code: "PROTOCOL_VERSION", attached: false, bytes: () => [encodePreamble(2)] },
  { name: "protocol version 0 after a banner", code: "PROTOCOL_VERSION", attached: false, bytes: () => [Buffer.from("motd\n"), encodePreamble(0)] },
  {
    name: "a request before the hello", code: "HANDSHAKE_FAILED", attached: false,
    bytes: () => [encodePreamble(), encodeFrame(FrameKind.REQUEST, 1, 0, { op: "attach", replica: "ab", filesetId: null, scan: { scan: false, maxDeleteFraction: 0.5, force: false }, dryRun: false })],
  },
];

describe("bad input: broken frame streams end the connection with a code, and the holder serves on", () => {
  for (const c of STREAM_CASES) {
    it(`${c.name} → ${c.code}`, () =>
      withFixture(async (fx) => {
        const { peer, done } = serveInMemory(fx);
        if (c.attached) {
          peer.hello();
          assert.equal((await peer.attach()).ok, true);
        }
        for (const b of c.bytes()) peer.send(b);
        if (c.end) peer.end();
        const why = await within(done, 20_000, "the holder to drop the connection");
        assert.equal(codeOf(why), c.code);
        await within(peer.ended, 5_000, "the holder's output to end");
        assert.equal(peer.decodeError, undefined, "the holder sent a malformed stream");
        assert.equal(peer.frames.filter((f) => f.kind === FrameKind.REPLY && (f.header as { ok: boolean }).ok === true).length, c.attached ? 1 : 0);
      }));
  }

  it("stray output before the magic is skipped, and the session works", () =>
    withFixture(async (fx) => {
      const { peer, done } = serveInMemory(fx);
      peer.send(Buffer.from("Last login: Tue Nov 24 on pts/0\r\n\x89IMZ\r\nnot yet\n"));
      peer.hello();
      assert.equal((await peer.attach()).ok, true);
      assert.equal((await peer.call({ op: "close" })).ok, true);
      peer.end();
      assert.equal(codeOf(await within(done, 10_000, "close")), "CONNECTION_LOST");
    }));
});

/** Attached in-memory session on a fresh fixture; closes it and waits for the holder to finish. */
function session(body: (peer: RawPeer, fx: Fixture, before: string) => Promise<void>, opts: { unchanged?: boolean; scan?: boolean; setup?: (fx: Fixture) => void } = {}) {
  return () =>
    withFixture(async (fx, before) => {
      opts.setup?.(fx);
      const setupSnap = opts.setup ? snapshot(fx) : before;
      const { peer, done } = serveInMemory(fx);
      try {
        peer.hello();
        const a = await peer.attach(opts.scan ?? false);
        assert.equal(a.ok, true, `attach refused: ${JSON.stringify(a.error)}`);
        await body(peer, fx, setupSnap);
        assert.equal((await peer.call({ op: "close" })).ok, true, "the connection did not survive");
      } finally {
        peer.end();
        await within(done, 10_000, "the connection to end");
      }
    }, opts.setup ? { ...opts, unchanged: false } : opts);
}

function errorCode(r: { ok: boolean; error?: { code: string } }): string {
  assert.equal(r.ok, false, "expected an error reply");
  return r.error!.code;
}

/** Asserts every result failed with `code` (the record's detail starts with it). */
function allFailed(res: { results: Array<{ status: string; detail?: string }> }, code: string, n: number): void {
  assert.equal(res.results.length, n);
  for (const [i, r] of res.results.entries()) {
    assert.equal(r.status, "failed", `record ${i}: ${JSON.stringify(r)}`);
    assert.match(r.detail ?? "", new RegExp(`^${code}:`), `record ${i}: ${JSON.stringify(r)}`);
  }
}

describe("bad input: malformed and out-of-order requests get error replies, the connection serves on", () => {
  it("requests before attach → USAGE, then attach works", () =>
    withFixture(async (fx) => {
      const { peer, done } = serveInMemory(fx);
      peer.hello();
      assert.equal(errorCode(await peer.call({ op: "updates", since: 0, limit: 10 })), "USAGE");
      assert.equal(errorCode(await peer.call({ op: "applied", replica: "ab", fromSeq: 0 })), "USAGE");
      assert.equal(errorCode(await peer.call({ op: "fetch", fid: fx.obj["top.txt"]!.fid })), "USAGE");
      assert.equal(errorCode(await peer.call({ op: "reintegrate", records: [peer.record("mkdir", { parent: ROOT_FID, name: fx.token, attrs: {} })] })), "USAGE");
      assert.equal((await peer.attach()).ok, true);
      assert.equal((await peer.call({ op: "close" })).ok, true);
      peer.end();
      await within(done, 10_000, "close");
    }));

  it("an unknown op → UNSUPPORTED", session(async (peer) => {
    assert.equal(errorCode(await peer.call({ op: "format-disk", really: true })), "UNSUPPORTED");
  }));

  it("a second attach → USAGE, and the first attach's lock is still released at the end", session(async (peer) => {
    assert.equal(errorCode(await peer.attach()), "USAGE");
    assert.equal((await peer.call({ op: "updates", since: 0, limit: 10 })).ok, true);
  }));

  it("an attach failing its schema → FRAME_BAD_HEADER", () =>
    withFixture(async (fx) => {
      const { peer, done } = serveInMemory(fx);
      peer.hello();
      const bad = { op: "attach", replica: "../../etc", filesetId: null, scan: { scan: false, maxDeleteFraction: 0.5, force: false }, dryRun: false, expectHolder: false };
      assert.equal(errorCode(await peer.call(bad)), "FRAME_BAD_HEADER");
      assert.equal(errorCode(await peer.call({ ...bad, replica: "ab", scan: { scan: false, maxDeleteFraction: 7, force: false } })), "FRAME_BAD_HEADER");
      assert.equal(errorCode(await peer.call({ ...bad, replica: "ab", fileset: "x".repeat(5000) })), "FRAME_BAD_HEADER");
      assert.equal((await peer.attach()).ok, true);
      peer.end();
      await within(done, 10_000, "close");
    }));

  const mk = (peer: RawPeer, name: string) => peer.record("mkdir", { parent: ROOT_FID, name, attrs: { mode: 0o755 } });
  const reintegrateCases: Array<{ name: string; records: (peer: RawPeer, fx: Fixture) => unknown[] }> = [
    { name: "a record missing its name", records: (p, fx) => [mk(p, fx.token), { ...mk(p, "x"), name: undefined }] },
    { name: "a record missing its parent and attrs", records: (p, fx) => { const r: Record<string, unknown> = { ...mk(p, fx.token) }; delete r.parent; delete r.attrs; return [r]; } },
    { name: "a record with an extra field", records: (p, fx) => [mk(p, fx.token), { ...mk(p, "y"), path: "/etc/passwd" }] },
    { name: "attrs with an extra field", records: (p, fx) => [{ ...mk(p, fx.token), attrs: { mode: 0o755, setuid: true } }] },
    { name: "a mode beyond 07777", records: (p, fx) => [{ ...mk(p, fx.token), attrs: { mode: 0o177777 } }] },
    { name: "an empty name", records: (p) => [mk(p, "")] },
    { name: "a path-like fid", records: (p, fx) => [{ ...mk(p, fx.token), fid: "../../etc/passwd" }] },
    { name: "a path-like parent fid", records: (p, fx) => [{ ...mk(p, fx.token), parent: "/tmp" }] },
    { name: "an unknown op", records: (p, fx) => [{ ...mk(p, fx.token), op: "chown-everything" }] },
    { name: "a record that is a string", records: (p, fx) => [mk(p, fx.token), "rm -rf /"] },
    { name: "a content hash that is not hex", records: (p, fx) => [p.record("create", { parent: ROOT_FID, name: fx.token, attrs: {}, content: { size: 1, mtimeNs: "1", hash: "../x" } })] },
    { name: "5001 records in one batch", records: (p) => Array.from({ length: 5001 }, (_, i) => mk(p, `n${i}`)) },
  ];
  for (const c of reintegrateCases) {
    it(`reintegrate with ${c.name} → FRAME_BAD_HEADER, nothing applied`, session(async (peer, fx) => {
      assert.equal(errorCode(await peer.call({ op: "reintegrate", records: c.records(peer, fx) })), "FRAME_BAD_HEADER");
    }));
  }

  it("a header of deeply nested JSON → FRAME_BAD_HEADER reply, the connection serves on", session(async (peer) => {
    const depth = 200_000;
    const header = `{"op":"reintegrate","records":[{"op":"mkdir","attrs":${"[".repeat(depth)}${"]".repeat(depth)}}]}`;
    peer.send(raw(FrameKind.REQUEST, header, 900));
    const reply = await peer.wait((f) => f.kind === FrameKind.REPLY && f.to === 900);
    assert.equal(errorCode(reply.header as { ok: boolean; error?: { code: string } }), "FRAME_BAD_HEADER");
  }));

  it("upload data sent with a request that reads none does not stall the connection", session(async (peer) => {
    const id = peer.peekId();
    const chunk = Buffer.alloc(MAX_PAYLOAD, 1);
    const data = Array.from({ length: 24 }, () => encodeFrame(FrameKind.DATA, id, 0, undefined, chunk));
    const r = await peer.call({ op: "updates", since: 0, limit: 1 }, [...data, encodeFrame(FrameKind.END_OF_DATA, id, 0)]);
    assert.equal(r.ok, true);
    // the next request must still be read and answered
    const again = await within(peer.call({ op: "updates", since: 0, limit: 1 }), 10_000, "a reply after the ignored upload");
    assert.equal(again.ok, true);
  }));
});

/** Replaces the holder's `d` by a symlink to `elsewhere` and `victim` by a symlink to `elsewhere/target`, behind the Fsdb's back. */
function symlinkAttack(fx: Fixture): void {
  fs.rmSync(path.join(fx.holder, "d"), { recursive: true });
  fs.symlinkSync(fx.elsewhere, path.join(fx.holder, "d"));
  fs.rmSync(path.join(fx.holder, "victim"));
  fs.symlinkSync(path.join(fx.elsewhere, "target"), path.join(fx.holder, "victim"));
}

describe("bad input: records that would write outside the file set are refused with PATH_UNSAFE", () => {
  it("names '..', '.', '../x', '../../x', 'a/b', NUL, over-long, and '.intermezzo' at the root; a good record still applies", session(async (peer, fx, before) => {
    const t = fx.token;
    const names = ["..", ".", `../${t}`, `../../${t}`, `d/${t}`, `a\0b`, `${t}\0/../../x`, "x".repeat(256), "é".repeat(128), ".intermezzo"];
    const records: unknown[] = [];
    for (const name of names) {
      records.push(peer.record("create", { parent: ROOT_FID, name, attrs: { mode: 0o644 } }));
      records.push(peer.record("mkdir", { parent: ROOT_FID, name, attrs: { mode: 0o755 } }));
      records.push(peer.record("symlink", { parent: ROOT_FID, name, target: "/etc/passwd", attrs: {} }));
      records.push(peer.record("link", { parent: ROOT_FID, name, target: fx.obj["top.txt"]!.fid, targetBase: fx.obj["top.txt"]!.version }));
      records.push(peer.record("rename", { parent: ROOT_FID, name: "top.txt", newParent: ROOT_FID, newName: name, base: fx.obj["top.txt"]!.version, fid: fx.obj["top.txt"]!.fid }));
    }
    // a create with content: the holder backfetches it, then refuses the name
    const withContent = peer.record("create", { parent: ROOT_FID, name: `../${t}`, attrs: { mode: 0o644 }, content: { size: 6, mtimeNs: "1700000000000000000", hash: "" } });
    const body = Buffer.from("escape");
    peer.content.set(withContent.fid, body);
    (withContent as { content: { hash: string } }).content.hash = hashBuffer(body);
    records.push(withContent);
    const res = await peer.reintegrate(records);
    allFailed(res, "PATH_UNSAFE", records.length);
    assert.equal(snapshot(fx), before);
    assert.deepEqual(fs.readdirSync(path.join(fx.holder, ".intermezzo", "tmp")), [], "a staged temp file was left behind");
    // the connection and the holder are fine: a good record applies
    const good = await peer.reintegrate([peer.record("mkdir", { parent: ROOT_FID, name: "fine", attrs: { mode: 0o755 } })]);
    assert.equal(good.results[0]!.status, "applied");
    assert.ok(fs.statSync(path.join(fx.holder, "fine")).isDirectory());
  }, { unchanged: false }));

  it("a directory the holder's disk replaced by a symlink to elsewhere is never written through", session(async (peer, fx, before) => {
    const o = fx.obj;
    const records = [
      peer.record("create", { parent: o["d"]!.fid, name: fx.token, attrs: { mode: 0o644 } }),
      peer.record("mkdir", { parent: o["d"]!.fid, name: fx.token, attrs: { mode: 0o755 } }),
      peer.record("symlink", { parent: o["d"]!.fid, name: fx.token, target: "x", attrs: {} }),
      peer.record("link", { parent: o["d"]!.fid, name: fx.token, target: o["top.txt"]!.fid, targetBase: o["top.txt"]!.version }),
      peer.record("create", { parent: o["d/sub"]!.fid, name: fx.token, attrs: { mode: 0o644 } }),
      peer.record("rename", { fid: o["top.txt"]!.fid, parent: ROOT_FID, name: "top.txt", newParent: o["d"]!.fid, newName: fx.token, base: o["top.txt"]!.version }),
      peer.record("rename", { fid: o["d/f"]!.fid, parent: o["d"]!.fid, name: "f", newParent: ROOT_FID, newName: fx.token, base: o["d/f"]!.version }),
      peer.record("unlink", { fid: o["d/f"]!.fid, parent: o["d"]!.fid, name: "f", base: o["d/f"]!.version }),
      peer.record("rmdir", { fid: o["d/sub"]!.fid, parent: o["d"]!.fid, name: "sub", base: o["d/sub"]!.version }),
      peer.record("setattr", { fid: o["d/f"]!.fid, base: o["d/f"]!.version, attrs: { mode: 0o777 } }),
      // the symlinks themselves: chmod must not follow them out of the tree
      peer.record("setattr", { fid: o["d"]!.fid, base: o["d"]!.version, attrs: { mode: 0o777 } }),
      peer.record("setattr", { fid: o["victim"]!.fid, base: o["victim"]!.version, attrs: { mode: 0o666 } }),
      peer.record("link", { parent: ROOT_FID, name: fx.token, target: o["victim"]!.fid, targetBase: o["victim"]!.version }),
      peer.record("close", { fid: o["victim"]!.fid, base: o["victim"]!.version, content: { size: 5, mtimeNs: "1700000000000000000", hash: hashBuffer(Buffer.from("owned")) } }),
    ];
    peer.content.set(o["victim"]!.fid, Buffer.from("owned"));
    const res = await peer.reintegrate(records);
    allFailed(res, "PATH_UNSAFE", records.length);
    assert.equal(snapshot(fx), before);
    // nor is anything read through them
    assert.equal(errorCode(await peer.call({ op: "fetch", fid: o["d/f"]!.fid })), "PATH_UNSAFE");
    assert.equal(errorCode(await peer.call({ op: "fetch", fid: o["victim"]!.fid })), "PATH_UNSAFE");
    assert.equal(peer.frames.filter((f) => f.kind === FrameKind.DATA && f.payload.includes("secret")).length, 0, "content from outside was sent");
  }, { setup: symlinkAttack }));

  it("with the holder's scan, the same records conflict (the directory is gone) and nothing is written", session(async (peer, fx, before) => {
    const o = fx.obj;
    const res = await peer.reintegrate([
      peer.record("create", { parent: o["d"]!.fid, name: fx.token, attrs: { mode: 0o644 } }),
      peer.record("create", { parent: o["d/sub"]!.fid, name: fx.token, attrs: { mode: 0o644 } }),
    ]);
    for (const r of res.results) assert.equal(r.status, "conflict", JSON.stringify(r));
    assert.equal(snapshot(fx), before);
  }, { setup: symlinkAttack, scan: true }));

  it("a symlink record pointing outside is stored as a link, and nothing is placed beneath it", session(async (peer, fx, before) => {
    const ln = peer.record("symlink", { parent: ROOT_FID, name: "ln", target: fx.elsewhere, attrs: {} });
    const res = await peer.reintegrate([
      ln,
      peer.record("create", { parent: ln.fid, name: fx.token, attrs: { mode: 0o644 } }),
      peer.record("mkdir", { parent: ln.fid, name: fx.token, attrs: { mode: 0o755 } }),
      peer.record("rename", { fid: fx.obj["top.txt"]!.fid, parent: ROOT_FID, name: "top.txt", newParent: ln.fid, newName: fx.token, base: fx.obj["top.txt"]!.version }),
    ]);
    assert.deepEqual(res.results.map((r) => r.status), ["applied", "conflict", "conflict", "conflict"]);
    assert.equal(fs.readlinkSync(path.join(fx.holder, "ln")), fx.elsewhere);
    const after = JSON.parse(snapshot(fx)) as Record<string, unknown>;
    const was = JSON.parse(before) as Record<string, unknown>;
    assert.deepEqual({ ...after, holder: null }, { ...was, holder: null }, "something outside the holder changed");
  }, { unchanged: false }));

  it("records that rename, rmdir or unlink the root object itself change nothing", session(async (peer, fx) => {
    const res = await peer.reintegrate([
      peer.record("rename", { fid: ROOT_FID, parent: ROOT_FID, name: "x", newParent: fx.obj["d"]!.fid, newName: fx.token, base: "" }),
      peer.record("rmdir", { fid: ROOT_FID, parent: ROOT_FID, name: "..", base: "" }),
      peer.record("unlink", { fid: ROOT_FID, parent: ROOT_FID, name: "x", base: "" }),
    ]);
    for (const r of res.results) assert.notEqual(r.status, "applied", JSON.stringify(r));
  }));
});

describe("bad input: a real 'intermezzo serve --stdio DIR' child", () => {
  const BIN = path.join(ROOT, "bin", "intermezzo");

  /** Runs the holder as a child on `fx.holder`; always reaps it by pid. */
  async function withChild(fx: Fixture, body: (peer: RawPeer, exited: Promise<number | string>, stderr: () => string) => Promise<void>): Promise<void> {
    assert.ok(fs.existsSync(path.join(ROOT, "dist", "cli", "intermezzo.js")), "build first: npx tsc -p tsconfig.build.json");
    const child = spawn(process.execPath, [BIN, "serve", "--stdio", fx.holder], { stdio: ["pipe", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const exited = new Promise<number | string>((resolve) => child.on("close", (code, signal) => resolve(code ?? signal ?? -1)));
    try {
      await body(new RawPeer(child.stdin, child.stdout), exited, () => err);
    } finally {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await exited;
    }
  }

  it("refuses traversal records with PATH_UNSAFE, then drops an oversized frame and exits cleanly", () =>
    withFixture(async (fx, before) =>
      withChild(fx, async (peer, exited, stderr) => {
        peer.hello();
        assert.equal((await peer.attach()).ok, true);
        const records = ["..", `../${fx.token}`, `../../${fx.token}`, `x/${fx.token}`, "a\0b", ".intermezzo"].map((name) =>
          peer.record("create", { parent: ROOT_FID, name, attrs: { mode: 0o644 } }),
        );
        allFailed(await peer.reintegrate(records), "PATH_UNSAFE", records.length);
        assert.equal(snapshot(fx), before);
        peer.send(prefix(FrameKind.REQUEST, MAX_HEADER + 1, 0));
        await within(peer.ended, 10_000, "the child's stdout to end");
        assert.equal(await within(exited, 10_000, "the child to exit"), 0, stderr());
        assert.doesNotMatch(stderr(), /internal error|TypeError|at .*\.js:/);
      })));

  it("exits cleanly on garbage instead of the protocol", () =>
    withFixture(async (fx) =>
      withChild(fx, async (peer, exited, stderr) => {
        peer.send(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        peer.end();
        await within(peer.ended, 10_000, "the child's stdout to end");
        assert.equal(await within(exited, 10_000, "the child to exit"), 0, stderr());
        assert.doesNotMatch(stderr(), /internal error|TypeError|at .*\.js:/);
      })));

  it("exits cleanly on a truncated frame after the handshake", () =>
    withFixture(async (fx) =>
      withChild(fx, async (peer, exited, stderr) => {
        peer.hello();
        assert.equal((await peer.attach()).ok, true);
        peer.send(encodeFrame(FrameKind.REQUEST, 9, 0, { op: "updates", since: 0, limit: 5 }).subarray(0, 20));
        peer.end();
        await within(peer.ended, 10_000, "the child's stdout to end");
        assert.equal(await within(exited, 10_000, "the child to exit"), 0, stderr());
      })));
});
