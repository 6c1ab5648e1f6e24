/**
 * Every failure a user or a peer can cause is one coded error: a silent peer is `TIMEOUT` (no hello,
 * or no word while a reply is awaited; a slow request is kept alive by heartbeats), a stream cut
 * inside a frame is `CONNECTION_LOST` (exit 6), a full disk is `DISK_FULL` with the path (SQLite's
 * and a write's), and the holder answers every request with a coded error — a fetch of a directory,
 * requests racing the attach, and requests in flight when a `close` arrives.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { after, describe, it } from "node:test";
import { exitCodeFor } from "../../src/cli/exit.js";
import { isImzError } from "../../src/errors.js";
import { Connection } from "../../src/ssh/connection.js";
import { FrameKind, encodeFrame, encodePreamble } from "../../src/ssh/codec.js";
import { serveConnection } from "../../src/sync/serve.js";
import { WirePeer } from "../../src/sync/wire-peer.js";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { randomBytes, tempDir } from "../helpers/tree.js";
import { RawPeer, makeFixture } from "./raw-peer.js";

const dirs: string[] = [];
// In-memory streams hold no handle, and the connection's watchdog timer is unref'd (a real socket or
// pipe keeps a process alive): this keeps the event loop running while a test awaits a timeout.
const keepAlive = setInterval(() => undefined, 1000);
after(() => {
  clearInterval(keepAlive);
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Both ends of an in-memory connection: `a` is the side under test, the peer writes `toA` and reads `fromA`. */
function pipePair(): { toA: PassThrough; fromA: PassThrough } {
  return { toA: new PassThrough(), fromA: new PassThrough() };
}

function codeOf(err: unknown): string {
  assert.ok(isImzError(err), `expected an ImzError, got ${String(err)}`);
  return err.code;
}

describe("a silent peer: TIMEOUT", () => {
  it("no hello within the handshake timeout", async () => {
    const { toA, fromA } = pipePair();
    const conn = new Connection(toA, fromA, { handshakeTimeoutMs: 300 });
    await assert.rejects(conn.start({ software: "t" }), (err: unknown) => codeOf(err) === "TIMEOUT");
    assert.equal(codeOf(await conn.closed), "TIMEOUT");
    assert.equal(exitCodeFor(await conn.closed), 6);
  });

  it("a peer that says hello and then nothing while a reply is awaited", async () => {
    const { toA, fromA } = pipePair();
    const conn = new Connection(toA, fromA, { idleTimeoutMs: 300 });
    toA.write(Buffer.concat([encodePreamble(), encodeFrame(FrameKind.MESSAGE, 0, 0, { op: "hello", software: "silent" })]));
    await conn.start({ software: "t" });
    await assert.rejects(conn.call({ op: "updates" }), (err: unknown) => codeOf(err) === "TIMEOUT");
  });

  it("a request slower than the idle timeout is kept alive by the serving side's heartbeats", async () => {
    const ab = new PassThrough();
    const ba = new PassThrough();
    const server = new Connection(ab, ba, {
      handlers: { slow: () => new Promise((resolve) => setTimeout(() => resolve("done"), 2500)) },
      heartbeatMs: 100,
    });
    const client = new Connection(ba, ab, { idleTimeoutMs: 1000 });
    await Promise.all([server.start({ software: "s" }), client.start({ software: "c" })]);
    assert.equal(await client.call({ op: "slow" }), "done");
    client.close();
    server.close();
  });
});

describe("a stream cut inside a frame: CONNECTION_LOST, exit 6", () => {
  it("the holder's stream ends in the middle of its reply", async () => {
    const { toA, fromA } = pipePair();
    fromA.resume();
    const reply = encodeFrame(FrameKind.REPLY, 1, 1, { ok: true, result: { padding: "x".repeat(100) } });
    toA.write(Buffer.concat([encodePreamble(), encodeFrame(FrameKind.MESSAGE, 0, 0, { op: "hello", software: "cut", role: "holder" })]));
    const peer = await WirePeer.connect(toA, fromA);
    const pending = peer.updates(0, 10);
    toA.end(reply.subarray(0, reply.length - 20));
    await assert.rejects(pending, (err: unknown) => codeOf(err) === "CONNECTION_LOST" && exitCodeFor(err) === 6);
    await peer.close().catch(() => undefined);
  });
});

describe("the holder answers every request with a coded error", () => {
  async function session(body: (peer: RawPeer, obj: Awaited<ReturnType<typeof makeFixture>>["obj"], holder: string) => Promise<void>): Promise<void> {
    const fx = await makeFixture();
    const toServer = new PassThrough();
    const fromServer = new PassThrough();
    const done = serveConnection(toServer, fromServer, () => fx.holder, { owner: false });
    const peer = new RawPeer(toServer, fromServer);
    try {
      peer.hello();
      await body(peer, fx.obj, fx.holder);
    } finally {
      peer.end();
      await done;
      fx.cleanup();
    }
  }
  const errorOf = (r: { ok: boolean; error?: { code: string; message: string } }): { code: string; message: string } => {
    assert.equal(r.ok, false, "expected an error reply");
    return r.error!;
  };

  it("a fetch of a directory, of a missing object and of the root: RECORD_INVALID", () =>
    session(async (peer, obj) => {
      assert.equal((await peer.attach()).ok, true);
      for (const fid of [obj["d"]!.fid, "abc:1", "root"]) {
        const e = errorOf(await peer.call({ op: "fetch", fid }));
        assert.equal(e.code, "RECORD_INVALID", JSON.stringify(e));
      }
      assert.equal((await peer.call({ op: "close" })).ok, true);
    }));

  it("a fetch of a file that a FIFO replaced: PATH_UNSAFE at once (never a read that blocks)", () =>
    session(async (peer, obj, holder) => {
      assert.equal((await peer.attach()).ok, true);
      fs.rmSync(path.join(holder, "d", "f"));
      execFileSync("mkfifo", [path.join(holder, "d", "f")]);
      assert.equal(errorOf(await peer.call({ op: "fetch", fid: obj["d/f"]!.fid })).code, "PATH_UNSAFE");
      assert.equal((await peer.call({ op: "close" })).ok, true);
    }));

  it("requests sent before the attach completes get USAGE, never an internal error", () =>
    session(async (peer) => {
      const attach = peer.attach();
      const early = await Promise.all([peer.call({ op: "updates", since: 0, limit: 10 }), peer.call({ op: "getattr", fids: ["root"] })]);
      for (const r of early) assert.equal(errorOf(r).code, "USAGE");
      assert.equal((await attach).ok, true);
      assert.equal((await peer.call({ op: "close" })).ok, true);
    }));

  it("a close while requests are in flight waits for them; later requests get USAGE", () =>
    session(async (peer, obj) => {
      assert.equal((await peer.attach()).ok, true);
      const inFlight = [
        peer.call({ op: "fetch", fid: obj["d/f"]!.fid }),
        peer.call({ op: "updates", since: 0, limit: 1000 }),
        peer.call({ op: "getattr", fids: [obj["top.txt"]!.fid] }),
        peer.call({ op: "presign", fids: [obj["top.txt"]!.fid] }),
      ];
      const close = peer.call({ op: "close" });
      for (const r of await Promise.all(inFlight)) assert.equal(r.ok, true, JSON.stringify(r.error));
      assert.equal((await close).ok, true);
      for (const op of [{ op: "updates", since: 0, limit: 1 }, { op: "fetch", fid: obj["d/f"]!.fid }, { op: "getattr", fids: ["root"] }]) {
        assert.equal(errorOf(await peer.call(op)).code, "USAGE");
      }
    }));
});

/** Runs `fn` with a fresh tmpfs of `size` mounted on a temp directory (root only); unmounts after. */
async function withTmpfs(size: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir("imz-full-");
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  try {
    await fn(dir);
  } finally {
    execFileSync("umount", [dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Fills the filesystem of `dir` until no byte is left. */
function fill(dir: string): void {
  const fd = fs.openSync(path.join(dir, "filler"), "w");
  const block = Buffer.alloc(64 << 10);
  try {
    for (;;) fs.writeSync(fd, block);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
  } finally {
    fs.closeSync(fd);
  }
}

describe("a full disk: DISK_FULL with the path", () => {
  it("under the database: one line naming the database, no stack trace", () =>
    withTmpfs("4m", async (mnt) => {
      const root = path.join(mnt, "t");
      fs.mkdirSync(root);
      assert.equal((await runCli(IMZ_BIN, ["init", root])).code, 0);
      for (let i = 0; i < 200; i++) fs.writeFileSync(path.join(root, `f${i}`), `${i}\n`);
      fill(mnt);
      const r = await runCli(IMZ_BIN, ["scan", root]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^intermezzo: error \[DISK_FULL\]: .*\(.*\.intermezzo\/fileset\.db\)\n/);
      assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
    }));

  it("under a replica's files: the file that did not fit is a DISK_FULL problem", () =>
    withTmpfs("6m", async (mnt) => {
      const src = tempDir("imz-full-src-");
      dirs.push(src);
      const dest = path.join(mnt, "r");
      fs.mkdirSync(dest);
      fs.writeFileSync(path.join(src, "small"), "fits\n");
      assert.equal((await syncJson([src, dest])).code, 0);
      fs.writeFileSync(path.join(mnt, "ballast"), randomBytes(3 << 20, 5));
      fs.writeFileSync(path.join(src, "big"), randomBytes(4 << 20, 9));
      for (const transport of ["in-process", "stdio"]) {
        const r = await syncJson([src, dest, "--transport", transport]);
        assert.equal(r.code, 4, r.stderr);
        assert.deepEqual(r.json!.problems.map((p) => [p.path, p.code]), [["big", "DISK_FULL"]], transport);
        assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
      }
    }));
});
