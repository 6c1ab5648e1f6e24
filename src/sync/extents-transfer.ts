/**
 * Written extents on the wire (issue 13, item 4). A close record that carries its extents
 * (`journal/extents.ts`) lets a receiver that holds its base version ask for exactly the changed
 * bytes: no signature, no delta search, and the file is changed in place (`in-place.ts`).
 *
 * Nothing is trusted that can be checked: the receiver asks only when its own file is the base —
 * the Fsdb's version of the object is the record's base, its hash the extents' base hash, and the
 * file open is the one the Fsdb recorded with that hash (size, mtime, ctime, inode); the ranges fit
 * (sorted, inside the new size, covering every byte past the base). The sender answers only from a
 * file that is still the content asked for (its Fsdb hash, recorded for that very file) and
 * unchanged while it was read; otherwise `HASH_MISMATCH`, and the receiver falls back to the delta.
 * What is then *not* checked is the new content's whole-file hash: reading 1 GiB to check 1 MiB
 * would cost what the extents save. The bytes outside the ranges are the base's, which the checks
 * above vouch for; the ranges' bytes are the sender's file's.
 */
import fs from "node:fs";
import { ImzError } from "../errors.js";
import { extentBytes, extentsFit, type Extent } from "../journal/extents.js";
import type { FsObject } from "../journal/fsdb.js";
import type { CloseExtents, Content } from "../journal/records.js";
import type { StagedContent } from "./content-stream.js";
import { writeStaged, type Holding } from "./holding.js";
import { describedStream, recordedHash, type ContentStream } from "./content-stream.js";

/** A request for the written extents of content `hash` (`size` bytes): the bytes of `ranges`, in order. */
export interface ExtentsAsk {
  ranges: Extent[];
  size: number;
  hash: string;
}

/** What a receiver asks a sender for: a delta against the basis whose signature this is, or written extents. */
export type ContentAsk = Buffer | ExtentsAsk;

/** The signature in `ask`, if it is one. */
export function signatureOf(ask: ContentAsk | undefined): Buffer | undefined {
  return Buffer.isBuffer(ask) ? ask : undefined;
}

/** Extents larger than this share of the new content go by the delta (in place, the undo file would copy as much again). */
const MAX_SHARE = 0.5;
const CHUNK = 1 << 20;

/**
 * The receiver's side: when the open basis `basisFd` is object `fid` at the version `base` that
 * `extents` count from, asks for the ranges, stages their bytes in a temp file and returns them as
 * an in-place change. Undefined when the extents cannot be used here (the caller moves a delta).
 * Throws what the transfer throws (`HASH_MISMATCH` when the sender's file moved on).
 */
export async function stageExtents(
  holding: Holding,
  basisFd: number,
  want: { fid: string; base: string; extents: CloseExtents; expected: Content },
  request: (ask: ExtentsAsk) => ContentStream,
): Promise<StagedContent | undefined> {
  const { extents, expected } = want;
  const o = holding.set.fsdb.get(want.fid);
  if (o?.type !== "f" || o.version === "" || o.version !== want.base || o.hash !== extents.baseHash || expected.hash === "") return undefined;
  if (!extentsFit(extents.ranges, o.size, expected.size) || extentBytes(extents.ranges) > expected.size * MAX_SHARE) return undefined;
  if (recordedHash(o, fs.fstatSync(basisFd, { bigint: true })) !== o.hash) return undefined;
  const stream = request({ ranges: extents.ranges, size: expected.size, hash: expected.hash });
  const temp = holding.tempPath();
  try {
    const bytes = await writeStaged(temp, stream.chunks, undefined, holding.set.tmpDir);
    const content = await stream.done;
    if (bytes !== extentBytes(extents.ranges) || content.hash !== expected.hash || content.size !== expected.size) {
      throw new ImzError("HASH_MISMATCH", `written extents of ${holding.set.fsdb.pathOf(want.fid)} arrived short or for other content`, { hint: "retried as a delta" });
    }
    // no durability ticket: the in-place change flushes the file itself (in-place.ts), so the batch needs no syncfs for it
    return { temp, content, ticket: 0, inPlace: { ranges: extents.ranges, baseHash: extents.baseHash } };
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}

/**
 * The sender's side: the bytes of `ask.ranges` of the file `open` opens (object `obj`), when that
 * file is the content `ask.hash` as the Fsdb recorded it and stays so while it is read; else
 * `HASH_MISMATCH`.
 */
export function readExtents(open: () => Promise<fs.promises.FileHandle>, obj: FsObject, ask: ExtentsAsk): ContentStream {
  const stale = (): ImzError =>
    new ImzError("HASH_MISMATCH", `the sender's file is no longer the content whose written extents were asked for`, { hint: "retried as a delta" });
  return describedStream(async function* (settle) {
    if (!extentsFit(ask.ranges, ask.size, ask.size)) {
      throw new ImzError("RECORD_INVALID", "written extents asked for do not fit the content", { hint: "the peer's request was refused" });
    }
    const fh = await open();
    try {
      const before = await fh.stat({ bigint: true });
      if (recordedHash(obj, before) !== ask.hash || Number(before.size) !== ask.size) throw stale();
      let held: Buffer | undefined;
      for (const [off, len] of ask.ranges) {
        for (let done = 0; done < len; ) {
          const buf = Buffer.allocUnsafe(Math.min(CHUNK, len - done));
          const { bytesRead } = await fh.read(buf, 0, buf.length, off + done);
          if (bytesRead === 0) throw stale();
          if (held !== undefined) yield held;
          held = buf.subarray(0, bytesRead);
          done += bytesRead;
        }
      }
      const after = await fh.stat({ bigint: true });
      if (recordedHash(obj, after) !== ask.hash) throw stale();
      settle({ size: ask.size, mtimeNs: before.mtimeNs.toString(), hash: ask.hash });
      if (held !== undefined) yield held;
    } finally {
      await fh.close();
    }
  });
}
