/**
 * Moving file content: reading an object's current content as a stream (hashing it on the way),
 * small files read whole for batches, and the hashes a first sync left for the send. Extents and
 * deltas (`extents-transfer.ts`, `delta-transfer.ts`) build on the same streams (`content-stream.ts`).
 */
import fs from "node:fs";
import { ImzError } from "../errors.js";
import { BackgroundHasher, hashBuffer, hashFile } from "../journal/content-hash.js";
import type { FileSet } from "../journal/fileset.js";
import { fsPath } from "../journal/names.js";
import type { JournalRecord } from "../journal/records.js";
import { fdPath } from "./beneath.js";
import { describedStream, describes, recordedHash, type ContentStream } from "./content-stream.js";
import { readDelta, type HashLearner } from "./delta-transfer.js";
import { readExtents, type ContentAsk } from "./extents-transfer.js";
import type { Holding } from "./holding.js";
import { HAS_DATA, isPlaceholder, type FsObject } from "../journal/fsdb.js";

/**
 * Read size of a whole-content send. Each chunk makes three or four thread-pool trips (the read,
 * the sender's hash, the receiver's write, its signature job); 1 MiB rather than 256 KiB took
 * 0.1 s of wall time off a 256 MiB first copy (issue 13, sixth round). Larger chunks cost more in
 * page faults (each is a fresh buffer: the receiver's queues hold it) than they save in trips.
 */
const CHUNK = 1 << 20;
/** Files up to this size are sent from one synchronous read (no thread-pool trips per file). */
const SMALL_FILE = 1 << 20;

/**
 * Records in the Fsdb the content hash a sender computed for object `fid` while sending it, when
 * the Fsdb did not know it (a large file a sync's scan left for the send to hash: only a replica's,
 * which holds its file set's lock for the whole sync) and the file was the recorded one both before
 * (`before`) and after (`after`) the read.
 */
function learnHash(holding: Holding, fid: string, hash: string, before: fs.BigIntStats, after: fs.BigIntStats): void {
  const fsdb = holding.set.fsdb;
  const obj = fsdb.get(fid);
  if (obj?.hash !== "" || !describes(obj, before) || !describes(obj, after)) return;
  try {
    holding.set.transaction(() => {
      fsdb.put({ ...obj, hash });
      giveCreatesHash(holding.set, obj, hash);
    });
  } catch {
    // only a saving (the next send hashes again): a database busy with a writer is left alone
  }
}

/**
 * Gives `hash` to the pending creates of `obj` journaled with their hash unknown that describe its
 * current version (same size and mtime; a later close pending describes another).
 */
function giveCreatesHash(set: FileSet, obj: FsObject, hash: string): void {
  for (const r of set.cml.about(obj.fid)) {
    if (r.op === "create" && r.content?.hash === "" && r.content.size === obj.size && r.content.mtimeNs === obj.mtimeNs) set.cml.replace({ ...r, content: { ...r.content, hash } });
  }
}

/** Above this many pending records, {@link unhashedCreates} starts from the Fsdb's unhashed files rather than the CML. */
const SHORT_CML = 4096;

const isUnhashedCreate = (r: JournalRecord): boolean => r.op === "create" && r.content?.hash === "";

/**
 * The files with data and no hash in the Fsdb that have a pending create with its hash unknown,
 * found from the smaller side: none when the CML is empty (a resync with nothing to send), from
 * the records of a short CML, else from the Fsdb's unhashed files (a scan of the whole table).
 */
function unhashedCreates(set: FileSet): FsObject[] {
  const pending = set.cml.count();
  if (pending === 0) return [];
  if (pending > SHORT_CML) return set.fsdb.unhashedFiles().filter((obj) => set.cml.about(obj.fid).some(isUnhashedCreate));
  const fids = new Set(set.cml.all().filter(isUnhashedCreate).map((r) => r.fid));
  const objs = [...fids].map((fid) => set.fsdb.get(fid));
  return objs.filter((o): o is FsObject => o !== undefined && o.type === "f" && o.hash === "" && (o.flags & HAS_DATA) !== 0);
}

/**
 * Hashes, before they meet a holder that may hold an identical file, the pending creates journaled
 * with their hash unknown. A sync's scan leaves a large new file unhashed only when its holder's
 * tree is empty (`ScanOptions.newHashedAtSend`), but a killed sync leaves the record pending, and by
 * the next run the holder may have that very file (installed before the kill, or from another
 * replica): a create without a hash cannot be recognised as identical, and would be a
 * `create/create` conflict instead of an adoption. A send that completed has given the hash to the
 * record already ({@link learnHash}); otherwise the file is hashed now, and the Fsdb and the record
 * take the hash only while the Fsdb still describes the file before and after the read.
 */
export async function hashUnknownCreates(set: FileSet): Promise<void> {
  for (const obj of unhashedCreates(set)) {
    const file = fsPath(set.root, set.fsdb.pathOf(obj.fid));
    try {
      if (!describes(obj, fs.lstatSync(file, { bigint: true }))) continue;
      const hash = await hashFile(file);
      if (!describes(obj, fs.lstatSync(file, { bigint: true }))) continue;
      set.transaction(() => {
        set.fsdb.put({ ...obj, hash });
        giveCreatesHash(set, obj, hash);
      });
    } catch {
      // gone or unreadable: the scan and the transfer report it
    }
  }
}

/**
 * Streams the current content of object `fid` from its holding location: the whole content, or
 * with a signature (of the receiver's basis) the delta against it, or with an extents ask the
 * bytes of its ranges (`extents-transfer.ts`). The description's hash is the
 * Fsdb's when {@link recordedHash} vouches for it, else computed while reading. Throws `NO_DATA` for a lazy
 * replica's placeholder: its bytes are never served as the file's content.
 */
export function readContent(holding: Holding, fid: string, ask?: ContentAsk): ContentStream {
  const known = servable(holding, fid);
  const file = holding.set.fsdb.pathOf(fid);
  const obj = known;
  // opened beneath the root, never through a symlink (Holding.openRead); a promise-based handle on
  // that open file through /proc/self/fd (the tree is not walked again)
  const open = async (): Promise<fs.promises.FileHandle> => {
    const fd = holding.openRead(fid);
    try {
      return await fs.promises.open(fdPath(fd), "r");
    } finally {
      fs.closeSync(fd);
    }
  };
  const learn: HashLearner = (hash, before, after) => learnHash(holding, fid, hash, before, after);
  if (Buffer.isBuffer(ask)) return readDelta(open, file, ask, obj, learn);
  if (ask !== undefined) return readExtents(open, obj, ask);
  // a hash the Fsdb does not know is computed below over every chunk sent (recordedHash never vouches for "")
  const whole = describedStream(async function* (settle) {
    let size = 0;
    const small = smallFile(holding.openRead(fid));
    if (small) {
      settle({ size: small.data.length, mtimeNs: small.mtimeNs, hash: hashBuffer(small.data) });
      if (small.data.length > 0) yield small.data;
      return;
    }
    const fh = await open();
    try {
      const st = await fh.stat({ bigint: true });
      const known = recordedHash(obj, st);
      // on worker threads, beside the reads and the receiver's writes
      const h = known === undefined ? new BackgroundHasher() : undefined;
      for (;;) {
        const buf = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
        if (bytesRead === 0) break;
        const b = buf.subarray(0, bytesRead);
        const backlog = h?.update(b);
        size += bytesRead;
        yield b;
        if (backlog) await backlog;
      }
      const hash = known ?? (await h!.digestHex());
      if (known === undefined) learn(hash, st, await fh.stat({ bigint: true }));
      settle({ size, mtimeNs: st.mtimeNs.toString(), hash });
    } finally {
      await fh.close();
    }
  });
  return obj.hash === "" ? { ...whole, hashedAsSent: true } : whole;
}

/**
 * Object `fid` as a sender may serve it: a regular file whose data is here. Throws `RECORD_INVALID`
 * for anything else, and `NO_DATA` for a lazy replica's placeholder (its bytes are never the file's content).
 */
function servable(holding: Holding, fid: string): FsObject {
  const known = holding.set.fsdb.get(fid);
  if (known?.type !== "f") {
    const what = known ? `${holding.set.fsdb.pathOf(fid) || "."} is a ${known.type === "d" ? "directory" : "symlink"}` : `no object ${fid} here`;
    throw new ImzError("RECORD_INVALID", `content asked for, but ${what}`, { hint: "only regular files have content; the peer's request was refused" });
  }
  if (isPlaceholder(known)) {
    throw new ImzError("NO_DATA", `the data of ${holding.set.fsdb.pathOf(fid)} was never fetched to this replica; its placeholder is not its content`, {
      hint: "read it through the lazy replica's mount (which fetches it), then sync again",
      path: holding.set.fsdb.pathOf(fid),
    });
  }
  return known;
}

/**
 * The whole content of object `fid` (see {@link servable}) read with synchronous calls, when it is
 * at most `max` bytes; undefined when it is larger. With `hash`, the Fsdb's content hash when
 * {@link recordedHash} vouches for it (the open file as its row describes it): the caller need not
 * hash it again; whoever receives the bytes still checks them against it.
 */
export function readSmall(holding: Holding, fid: string, max: number): { data: Buffer; mtimeNs: string; hash?: string } | undefined {
  const known = servable(holding, fid);
  const { fd, st } = holding.openFile(fid);
  const small = smallFile(fd, max, st);
  const hash = recordedHash(known, st);
  return small && hash !== undefined ? { ...small, hash } : small;
}

/** The small regular file open as `fd` (its stat `st`, if taken) read whole with synchronous calls (no thread-pool trips), or undefined; closes `fd`. */
function smallFile(fd: number, max = SMALL_FILE, stat?: fs.BigIntStats): { data: Buffer; mtimeNs: string } | undefined {
  try {
    const st = stat ?? fs.fstatSync(fd, { bigint: true });
    if (st.size > BigInt(max)) return undefined;
    const data = Buffer.allocUnsafe(Number(st.size));
    let off = 0;
    while (off < data.length) {
      const n = fs.readSync(fd, data, off, data.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return { data: data.subarray(0, off), mtimeNs: st.mtimeNs.toString() };
  } finally {
    fs.closeSync(fd);
  }
}
