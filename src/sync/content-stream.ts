/**
 * Content in flight between a sender and a receiver: the stream type every transfer (whole file,
 * extents, delta, the wire) speaks, how a sender settles its description, when the Fsdb's hash may
 * stand for a file's bytes, and how a receiver stages a stream in a temp file checked against the
 * sender's hash. A module of its own so that the transfers building on it (`transfer.ts`,
 * `extents-transfer.ts`, `delta-transfer.ts`) do not import one another in a circle.
 */
import fs from "node:fs";
import { ImzError } from "../errors.js";
import { BackgroundHasher } from "../journal/content-hash.js";
import { inoKey } from "../journal/fileset.js";
import { HAS_DATA, type FsObject } from "../journal/fsdb.js";
import type { Extent } from "../journal/extents.js";
import type { Content } from "../journal/records.js";
import { writeStaged, type Holding } from "./holding.js";
import type { SourceFile } from "./source-compare.js";

/** Content in flight: the bytes, and the description the sender settles once it has read them all. */
export interface ContentStream {
  chunks: AsyncIterable<Buffer>;
  done: Promise<Content>;
  /**
   * The description's hash is computed by the sender over exactly these chunks, the very buffers a
   * receiver in the same process gets (`readContent` of a file whose hash the Fsdb does not know):
   * such a receiver need not hash them again. Set only in process; a stream rebuilt from a wire
   * never has it.
   */
  hashedAsSent?: boolean;
  /**
   * The sender's file itself, likewise only in process: a receiver that rebuilds the content from a
   * delta may compare it with these bytes instead of hashing it (`source-compare.ts`).
   */
  source?: SourceFile;
}

/** A complete temp file holding a record's content, already checked against `content.hash`. */
export interface StagedContent {
  temp: string;
  content: Content;
  /** Durability ticket from {@link Holding.stagedTicket}. */
  ticket: number;
  /** The content's signature, built as it was written (large files; see `kept-signatures.ts`). */
  signature?: Promise<Buffer | undefined>;
  /**
   * Written extents (`extents-transfer.ts`) or an aligned delta (`patch-in-place.ts`): `temp`
   * holds only the bytes of these ranges, to be written in place (`in-place.ts`) into the object's
   * current file while it is still the version of content hash `baseHash`; only a close takes it.
   */
  inPlace?: { ranges: Extent[]; baseHash: string };
  /** Set once `temp` is renamed into place or removed: nothing is left to remove. */
  consumed?: boolean;
}

/**
 * A content stream whose description is settled by its producer once every byte is out; a
 * producer's failure rejects `done` as well as the chunks.
 */
export function describedStream(produce: (settle: (c: Content) => void) => AsyncGenerator<Buffer>): ContentStream {
  let settle!: (c: Content) => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<Content>((res, rej) => ((settle = res), (reject = rej)));
  done.catch(() => undefined);
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      yield* produce(settle);
    } catch (err) {
      reject(err);
      throw err;
    }
  }
  return { chunks: chunks(), done };
}

/**
 * The Fsdb's content hash of `obj` when it can stand for the bytes of the open file `st` describes:
 * a file with data whose size, mtime, ctime and inode are still those recorded with the hash (the
 * scanner's quick check; a write since then moves ctime). A sender reading such a file need not
 * hash it again. A write during the read fails the receiver's hash check, and its whole-file retry
 * sees the new ctime and hashes what it sends; a write in the same clock tick as the recorded ctime
 * (which the scanner misses too) fails the check again, a per-path problem, never a wrong install.
 */
export function recordedHash(obj: FsObject | undefined, st: fs.BigIntStats): string | undefined {
  return obj?.hash !== "" && describes(obj, st) ? obj!.hash : undefined;
}

/** Whether `obj` is a file with data recorded with the size, mtime, ctime and inode of `st`. */
export function describes(obj: FsObject | undefined, st: fs.BigIntStats): boolean {
  return (
    obj?.type === "f" &&
    (obj.flags & HAS_DATA) !== 0 &&
    obj.size === Number(st.size) &&
    obj.mtimeNs === st.mtimeNs.toString() &&
    obj.ctimeNs === st.ctimeNs.toString() &&
    obj.ino === inoKey(st)
  );
}

/**
 * Writes a content stream to a temp file and checks it against the sender's hash; the returned
 * ticket makes it durable before use.
 * Throws `HASH_MISMATCH` (and removes the temp file) when they differ.
 */
export async function stageContent(holding: Holding, stream: ContentStream): Promise<StagedContent> {
  const temp = holding.tempPath();
  // the sender hashed these very buffers (in this process): their hash is the description's
  const h = stream.hashedAsSent === true ? undefined : new BackgroundHasher();
  try {
    const size = await writeStaged(temp, stream.chunks, (b) => h?.update(b), holding.set.tmpDir);
    const content = await stream.done;
    const hash = h === undefined ? content.hash : await h.digestHex();
    if (hash !== content.hash || size !== content.size) {
      throw new ImzError("HASH_MISMATCH", `received content does not match its hash (${size} bytes)`, { hint: "retried with whole-file data" });
    }
    return { temp, content, ticket: holding.stagedTicket(temp) };
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}
