/**
 * A delta patched into a temp file, or kept for an in-place change (issue 13, fifth round). When a
 * delta's every COPY takes basis bytes to the same offset of the new version — edits made in place
 * in a database file, a VM image, a document rewritten over itself — the new version is the basis
 * with a few ranges replaced, and writing all of it into a new file (then flushing it and freeing
 * the old one) costs more than the transfer: 256 MiB written to change 4 MiB. So the patch's output
 * is hashed (the whole-file check the delta's short block sums rely on) and signed as usual, but
 * only the bytes that no aligned COPY covers and that differ from the basis's (in 512-byte grains:
 * a literal block mostly repeats the block it replaces) are written, to a temp file holding those
 * ranges in order; the applier writes them into the file under an undo file, as it does for
 * written extents (`in-place.ts`). The check therefore covers exactly the bytes the file will hold:
 * the basis's, read by the patch, and the ranges'.
 *
 * Whether a delta is aligned is known only as it passes. Until it is not (a COPY to another offset,
 * as an insert gives, or more changed bytes than {@link inPlaceShare} of the new version), the
 * output's covered bytes are not written; from then on the output is written whole, after the part
 * already passed is rebuilt from the basis and the ranges kept so far. Either way one pass of the
 * patch, one hash, one signature.
 */
import fs from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { BackgroundHasher } from "../journal/content-hash.js";
import type { Extent } from "../journal/extents.js";
import { copyRanges, patchJob, type CopyPiece } from "./delta/native.js";
import { runJob, READ_CHUNK } from "./delta/job.js";
import { DeltaCommands } from "./delta/resign.js";
import { writeChunks } from "./delta/write.js";
import type { Holding } from "./holding.js";
import { SourceCompare, type SourceFile } from "./source-compare.js";
import { BasisRelease } from "./basis-release.js";

/** Unit in which a literal's bytes are compared with the basis's: only the grains that differ are written in place. */
const GRAIN = 512;

/**
 * Largest share of the new version that may differ for it to be changed in place: the changed
 * bytes are written three times (this temp file, the undo file's copy of the old ones, the file
 * itself) where a written version writes each byte once.
 */
export const inPlaceShare = 0.25;

/**
 * Smallest new version changed in place: below it, the undo file's flush, its directory's and the
 * file's (three per file) cost more than writing the file whole and sharing the batch's one `syncfs`.
 */
export const IN_PLACE_MIN = 8 << 20;

/** The basis a delta may be applied to in place: the recorded version of the object being changed. */
export interface InPlaceBasis {
  /** Its size. */
  size: number;
  /** Its content hash (the applier changes the file only while it still is this version). */
  hash: string;
  /** The new version's size as the record states it. */
  newSize: number;
}

/** A patched version staged in `temp`: all of it, or (`ranges` set) only those ranges' bytes, in order. */
export interface PatchStaged {
  temp: string;
  bytes: number;
  ranges?: Extent[];
  /** Whether the output is the content of hash `hash` (hashed, or compared with the sender's own file); call once. */
  matches(hash: string): Promise<boolean>;
  /** Lets go of what {@link PatchStaged.matches} would have used, when it is not called. */
  release(): Promise<void>;
}

/** Options of {@link patchStaged}. */
export interface PatchOptions {
  /** Sees the whole output (e.g. re-signing it). */
  through?: (output: AsyncIterable<Buffer>) => AsyncIterable<Buffer>;
  /** The basis as one the delta may be applied to in place. */
  inPlace?: InPlaceBasis;
  /** The sender's own file (in process): the output is compared with it instead of hashed (`source-compare.ts`). */
  source?: SourceFile;
}

/**
 * Patches `delta` onto the open basis `basis` into a temp file of `holding`; with `inPlace`, keeps
 * only the ranges no aligned COPY covers while the delta allows (see the module's comment).
 * Removes its temp files when it throws.
 */
export async function patchStaged(holding: Holding, basis: number, delta: AsyncIterable<Buffer>, opts: PatchOptions = {}): Promise<PatchStaged> {
  const { through, inPlace } = opts;
  const follow = inPlace && new Alignment(basis, inPlace);
  // an in-place change keeps the basis's pages (they are the file's); a new file takes them over
  const freed = new BasisRelease(basis, follow ? Infinity : 0);
  const patched = runJob(patchJob(basis), freed.delta(follow ? follow.delta(delta) : delta));
  const output = (through === undefined ? patched : through(patched))[Symbol.asyncIterator]();
  const hash = opts.source === undefined ? new BackgroundHasher() : new SourceCompare(opts.source);
  const matches = (h: string): Promise<boolean> => (hash instanceof SourceCompare ? hash.same() : hash.digestHex().then((d) => d === h));
  const release = async (): Promise<void> => (hash instanceof SourceCompare ? hash.close() : undefined);
  // an output chunk written to a new file from output offset `at` on: checked, and the basis bytes it took released
  const passing = (at: number) => (chunk: Buffer) => {
    freed.passed((at += chunk.length));
    return hash.update(chunk);
  };
  const temp = holding.tempPath();
  const out = await fs.promises.open(temp, "wx+", 0o600); // read back when the version is rebuilt whole
  let whole: string | undefined;
  try {
    let bytes = 0;
    if (follow !== undefined) {
      for (let r = await output.next(); r.done !== true; r = await output.next()) {
        const seen = hash.update(r.value);
        if (!follow.aligned) {
          whole = holding.tempPath();
          const w = await fs.promises.open(whole, "wx", 0o600);
          let rebuilt: Promise<void> = Promise.resolve();
          try {
            await follow.flush(out);
            // the part passed, rebuilt in the kernel on a worker while the patch goes on after it
            rebuilt = copyRanges(w.fd, rebuildPieces(basis, out.fd, follow.ranges, bytes));
            rebuilt.catch(() => undefined); // awaited below, also when the patch fails first
            freed.startAt(bytes);
            await w.write(r.value, 0, r.value.length, bytes);
            bytes += r.value.length;
            bytes += await writeChunks(output, w, passing(bytes), bytes);
            await rebuilt;
          } finally {
            await rebuilt.catch(() => undefined); // it uses both files' descriptors
            await w.close();
          }
          break;
        }
        await follow.keep(r.value, bytes, out);
        bytes += r.value.length;
        if (seen) await seen;
      }
    } else {
      bytes = await writeChunks(output, out, passing(0));
    }
    if (whole === undefined) {
      await follow?.flush(out);
      return { temp, bytes, ranges: follow?.ranges, matches, release };
    }
    fs.rmSync(temp, { force: true });
    return { temp: whole, bytes, matches, release };
  } catch (err) {
    await release();
    await output.return?.(undefined).catch(() => undefined);
    fs.rmSync(temp, { force: true });
    if (whole !== undefined) fs.rmSync(whole, { force: true });
    throw err;
  } finally {
    await out.close();
  }
}

/**
 * Follows a delta's COPY commands and, for the output passing after them, keeps the bytes no
 * aligned COPY covers that differ from the basis's; stops being {@link Alignment.aligned} at the first COPY to another
 * offset or when the kept bytes pass {@link inPlaceShare} of the new version.
 */
class Alignment {
  readonly ranges: Extent[] = [];
  aligned = true;
  private readonly commands = new DeltaCommands();
  private checked = 0;
  private at = 0;
  private kept = 0;
  private readonly most: number;
  private old = Buffer.alloc(0);
  /** Kept bytes not yet written (one write per {@link READ_CHUNK}, not one per range). */
  private readonly staged = Buffer.allocUnsafe(READ_CHUNK);
  private stagedLength = 0;

  constructor(
    private readonly basisFd: number,
    private readonly basis: InPlaceBasis,
  ) {
    this.most = Math.floor(basis.newSize * inPlaceShare);
  }

  /** Passes the delta on (to the patch), following its commands. */
  async *delta(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
    for await (const chunk of chunks) {
      if (this.aligned) {
        try {
          this.commands.feed(chunk);
          const copies = this.commands.copies;
          for (; this.checked < copies.length; this.checked++) if (copies[this.checked]!.offset !== copies[this.checked]!.basisOffset) this.aligned = false;
        } catch {
          this.aligned = false; // the patch reports a damaged delta
        }
      }
      yield chunk;
    }
  }

  /**
   * Output bytes `chunk`, at `offset` of the new version: its bytes outside aligned COPYs that
   * differ from the basis's (compared in {@link GRAIN}s: a literal block usually repeats most of
   * the basis block it replaces) go to `out`.
   */
  async keep(chunk: Buffer, offset: number, out: FileHandle): Promise<void> {
    const copies = this.commands.copies;
    const end = offset + chunk.length;
    for (let pos = offset; pos < end; ) {
      while (this.at < copies.length && copies[this.at]!.offset + copies[this.at]!.length <= pos) this.at++;
      const c = copies[this.at];
      const covered = c !== undefined && c.offset <= pos && c.offset === c.basisOffset;
      const next = Math.min(end, c === undefined ? end : c.offset <= pos ? c.offset + c.length : c.offset);
      if (!covered) await this.literal(chunk.subarray(pos - offset, next - offset), pos, out);
      pos = next;
    }
  }

  /** Output bytes `bytes` at `offset`, not copied from the basis: the grains that differ from the basis's are kept. */
  private async literal(bytes: Buffer, offset: number, out: FileHandle): Promise<void> {
    const inBasis = Math.max(0, Math.min(bytes.length, this.basis.size - offset));
    if (this.old.length < inBasis) this.old = Buffer.allocUnsafe(Math.max(inBasis, READ_CHUNK));
    // read here (a literal is at most a few blocks): a thread-pool trip per literal cost more
    let got = 0;
    while (got < inBasis) {
      const bytesRead = fs.readSync(this.basisFd, this.old, got, inBasis - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    let from = -1; // start of a run of differing grains
    for (let at = 0; at <= bytes.length; ) {
      const to = Math.min(bytes.length, (Math.floor((offset + at) / GRAIN) + 1) * GRAIN - offset);
      const same = at < bytes.length && to <= got && bytes.compare(this.old, at, to, at, to) === 0;
      if (at === bytes.length || same) {
        if (from !== -1) await this.add(bytes.subarray(from, at), offset + from, out);
        from = -1;
        if (at === bytes.length) break;
      } else if (from === -1) {
        from = at;
      }
      at = to;
    }
  }

  private async add(bytes: Buffer, offset: number, out: FileHandle): Promise<void> {
    for (let at = 0; at < bytes.length; ) {
      const n = bytes.copy(this.staged, this.stagedLength, at);
      this.stagedLength += n;
      at += n;
      if (this.stagedLength === this.staged.length) await this.flush(out);
    }
    const last = this.ranges.at(-1);
    if (last !== undefined && last[0] + last[1] === offset) last[1] += bytes.length;
    else this.ranges.push([offset, bytes.length]);
    this.kept += bytes.length;
    if (this.kept > this.most) this.aligned = false;
  }

  /** Writes the kept bytes staged so far to `out` (before it is read back, and at the end). */
  async flush(out: FileHandle): Promise<void> {
    for (let at = 0; at < this.stagedLength; ) at += (await out.write(this.staged, at, this.stagedLength - at)).bytesWritten;
    this.stagedLength = 0;
  }
}

/**
 * The pieces that rebuild the first `length` bytes of the new version (see `copyRanges`): the
 * bytes of the basis open as `basis`, with `ranges`, whose bytes the file open as `kept` holds in
 * order, in their place. Past the basis every byte is a range's. The basis's pages are released
 * as they are copied (`basis-release.ts`): the new file's pages are those.
 */
function rebuildPieces(basis: number, kept: number, ranges: Extent[], length: number): CopyPiece[] {
  const pieces: CopyPiece[] = [];
  let pos = 0;
  let keptAt = 0;
  for (const [off, len] of ranges) {
    if (off >= length) break;
    if (off > pos) pieces.push({ fd: basis, from: pos, to: pos, length: off - pos, release: true });
    pieces.push({ fd: kept, from: keptAt, to: off, length: Math.min(len, length - off) });
    keptAt += len;
    pos = off + len;
  }
  if (pos < length) pieces.push({ fd: basis, from: pos, to: pos, length: length - pos, release: true });
  return pieces;
}
