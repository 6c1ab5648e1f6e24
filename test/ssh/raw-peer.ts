/**
 * Test harness for feeding a real holder a hand-made frame stream: a holder file set next to an
 * "outside" sibling and an "elsewhere" directory that symlinks point at, snapshots of everything
 * that must not change, and {@link RawPeer}, a client that writes arbitrary bytes and frames and
 * decodes the holder's replies (answering its backfetch requests from a table).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { scan } from "../../src/filter/scanner.js";
import { hashBuffer } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID, type JournalRecord } from "../../src/journal/records.js";
import { FrameDecoder, FrameKind, encodeFrame, encodePreamble, type Frame } from "../../src/ssh/codec.js";
import { manifest, tempDir } from "../helpers/tree.js";

/** The replica id the hand-made records claim. */
export const REPLICA = "badc0ffee0";

/** A holder with a known tree, and the places around it that must stay untouched. */
export interface Fixture {
  base: string;
  holder: string;
  outside: string;
  elsewhere: string;
  /** Fids and versions of the holder's objects by path (`d`, `d/f`, `d/sub`, `top.txt`, `victim`). */
  obj: Record<string, { fid: string; version: string }>;
  /** A name unique to this fixture, for escape attempts. */
  token: string;
  cleanup(): void;
}

/** Creates the holder `base/holder` (scanned, so its Fsdb knows every object), `base/outside` and `elsewhere`. */
export async function makeFixture(): Promise<Fixture> {
  const base = tempDir("imz-bad-");
  const elsewhere = tempDir("imz-elsewhere-");
  const holder = path.join(base, "holder");
  const outside = path.join(base, "outside");
  fs.mkdirSync(path.join(holder, "d", "sub"), { recursive: true });
  fs.writeFileSync(path.join(holder, "d", "f"), "inside f\n");
  fs.writeFileSync(path.join(holder, "top.txt"), "top\n");
  fs.writeFileSync(path.join(holder, "victim"), "victim\n");
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, "keep.txt"), "outside\n");
  fs.writeFileSync(path.join(elsewhere, "target"), "secret outside the file set\n", { mode: 0o640 });
  fs.mkdirSync(path.join(elsewhere, "sub"));
  fs.chmodSync(elsewhere, 0o755);
  const set = FileSet.init(holder, { role: "holder" });
  const obj: Fixture["obj"] = {};
  try {
    await scan(set);
    for (const rel of ["d", "d/f", "d/sub", "top.txt", "victim"]) {
      let fid = ROOT_FID;
      for (const part of rel.split("/")) fid = set.fsdb.child(fid, part)!.fid;
      obj[rel] = { fid, version: set.fsdb.must(fid).version };
    }
  } finally {
    set.close();
  }
  return {
    base, holder, outside, elsewhere, obj,
    token: `imz-escape-${randomBytes(4).toString("hex")}`,
    cleanup: () => {
      fs.rmSync(base, { recursive: true, force: true });
      fs.rmSync(elsewhere, { recursive: true, force: true });
    },
  };
}

function statLine(p: string): string {
  const st = fs.lstatSync(p);
  return `${(st.mode & 0o7777).toString(8)} ${st.mtimeMs}`;
}

/**
 * Everything a bad record must not change: the holder's tree (without `.intermezzo/`), the
 * outside sibling, the elsewhere directory (with its own mode), the base's and tmpdir's escape names.
 */
export function snapshot(fx: Fixture): string {
  const escapes = [path.join(fx.base, fx.token), path.join(path.dirname(fx.base), fx.token), path.join(fx.holder, "d", fx.token)];
  return JSON.stringify({
    base: fs.readdirSync(fx.base).sort(),
    holder: manifest(fx.holder),
    outside: [statLine(fx.outside), manifest(fx.outside)],
    elsewhere: [statLine(fx.elsewhere), manifest(fx.elsewhere)],
    escapes: escapes.map((p) => fs.existsSync(p)),
  }, null, 1);
}

/** The server log's head and the lock file's presence, read after the server is done. */
export function holderState(fx: Fixture): { head: number; locked: boolean } {
  const set = FileSet.open(fx.holder);
  try {
    return { head: set.log.head(), locked: fs.existsSync(path.join(fx.holder, ".intermezzo", "lock")) };
  } finally {
    set.close();
  }
}

/** Reply header of a request. */
export interface ReplyHeader {
  ok: boolean;
  result?: unknown;
  error?: { code: string; message: string };
}

/** Results of a reintegrate reply. */
export interface Results {
  results: Array<{ seq: number; status: string; detail?: string; conflict?: string }>;
  volume: number;
}

/** A client that speaks (or mangles) the protocol by hand. */
export class RawPeer {
  readonly frames: Frame[] = [];
  /** Content served to the holder's backfetch requests, by fid. */
  readonly content = new Map<string, Buffer>();
  /** Resolves when the holder's output stream ended. */
  readonly ended: Promise<void>;
  private readonly decoder = new FrameDecoder();
  private readonly waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private nextId = 1;
  private seq = 0;
  decodeError: Error | undefined;

  constructor(private readonly out: Writable, input: Readable) {
    out.on("error", () => undefined); // writing to a holder that hung up
    input.on("data", (chunk: Buffer) => {
      try {
        for (const f of this.decoder.push(chunk)) this.onFrame(f);
      } catch (err) {
        this.decodeError = err as Error;
      }
    });
    this.ended = new Promise((resolve) => {
      input.on("end", resolve);
      input.on("close", resolve);
    });
  }

  /** Writes raw bytes. */
  send(bytes: Buffer): void {
    if (!this.out.writableEnded && !this.out.destroyed) this.out.write(bytes);
  }

  /** Ends our side of the stream. */
  end(): void {
    if (!this.out.writableEnded) this.out.end();
  }

  /** Sends the preamble and a hello. */
  hello(): void {
    this.send(encodePreamble());
    this.send(encodeFrame(FrameKind.MESSAGE, 0, 0, { op: "hello", software: "bad-input-test", role: "replica" }));
  }

  /** Sends a request (optionally followed by raw frames) and waits for its reply. */
  async call(header: Record<string, unknown>, after: Buffer[] = []): Promise<ReplyHeader> {
    const id = this.nextId++;
    this.send(Buffer.concat([encodeFrame(FrameKind.REQUEST, id, 0, header), ...after]));
    const f = await this.wait((x) => x.kind === FrameKind.REPLY && x.to === id);
    return f.header as ReplyHeader;
  }

  /** The next session id this peer will use. */
  peekId(): number {
    return this.nextId;
  }

  /** Attaches to the holder (without a scan unless asked). */
  async attach(scanIt = false): Promise<ReplyHeader> {
    return this.call({ op: "attach", replica: REPLICA, filesetId: null, scan: { scan: scanIt, maxDeleteFraction: 0.5, force: false }, dryRun: false, expectHolder: false });
  }

  /** Reintegrates `records`; fails the test unless the holder replied ok. */
  async reintegrate(records: unknown[]): Promise<Results> {
    const r = await this.call({ op: "reintegrate", records });
    if (!r.ok) throw new Error(`reintegrate refused: ${JSON.stringify(r.error)}`);
    return r.result as Results;
  }

  /** A record from this replica with the next sequence number (and a fresh fid unless given). */
  record(op: string, fields: Record<string, unknown>): JournalRecord {
    const seq = ++this.seq;
    return { op, seq, origin: REPLICA, originSeq: seq, time: 1_700_000_000_000, fid: `${REPLICA}:${seq}`, ...fields } as JournalRecord;
  }

  /** Waits for a frame matching `pred` (already received or yet to come). */
  wait(pred: (f: Frame) => boolean, ms = 20_000): Promise<Frame> {
    const have = this.frames.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (f: Frame) => (clearTimeout(timer), resolve(f)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error("timed out waiting for a frame from the holder"));
      }, ms);
      this.waiters.push(w);
    });
  }

  private onFrame(f: Frame): void {
    const h = f.header as { op?: string; fid?: string } | undefined;
    if (f.kind === FrameKind.REQUEST && h?.op === "backfetch") {
      this.answerBackfetch(f.from, String(h.fid));
      return;
    }
    if (f.kind === FrameKind.REQUEST && h?.op === "backfetchBatch") {
      // as a peer without batches answers (Connection's reply to an op it has no handler for): the
      // holder falls back to one backfetch per file
      const error = { code: "UNSUPPORTED", message: "the peer does not support 'backfetchBatch'" };
      this.send(encodeFrame(FrameKind.REPLY, 1000 + this.nextId++, f.from, { ok: false, error }));
      return;
    }
    this.frames.push(f);
    for (const w of [...this.waiters]) {
      if (w.pred(f)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(f);
      }
    }
  }

  private answerBackfetch(to: number, fid: string): void {
    const body = this.content.get(fid);
    const me = 1000 + this.nextId++;
    if (!body) {
      this.send(encodeFrame(FrameKind.REPLY, me, to, { ok: false, error: { code: "IO", message: `no content for ${fid}` } }));
      return;
    }
    this.send(Buffer.concat([
      encodeFrame(FrameKind.DATA, me, to, undefined, body),
      encodeFrame(FrameKind.END_OF_DATA, me, to),
      encodeFrame(FrameKind.REPLY, me, to, { ok: true, result: { size: body.length, mtimeNs: "1700000000000000000", hash: hashBuffer(body) } }),
    ]));
  }
}
