/**
 * File content moved as librsync deltas. The receiver picks a basis for the object's new content
 * (a local file with the same content hash: copied, nothing moves; else its current version of the
 * object; else none), sends a signature of it with its request, and patches basis + delta into a
 * temp file checked against the sender's whole-file hash before anything may be replaced with it
 * (for a close whose delta keeps its COPYs at their offsets, only the changed ranges are staged,
 * after the same check, for an in-place change: `patch-in-place.ts`). A mismatch (or a delta that does not fit the basis) is retried once with whole-file data.
 *
 * The same contract on every side: a request carrying a signature is answered with an `rdiff` delta
 * against it, a request without one with the whole content (see {@link ContentRequest}).
 */
import fs from "node:fs";
import { ImzError } from "../errors.js";
import { hashFile, hashOpenFile } from "../journal/content-hash.js";
import { isPlaceholder, type FsObject } from "../journal/fsdb.js";
import type { CloseExtents, Content, JournalRecord } from "../journal/records.js";
import type { StagedContent } from "./content-stream.js";
import { fdPath } from "./beneath.js";
import { DELTA_SPLIT_MIN, deltaInParts, signatureOfFile } from "./delta/index.js";
import type { Holding } from "./holding.js";
import { keptSignature } from "./kept-signatures.js";
import { IN_PLACE_MIN, patchStaged, type InPlaceBasis, type PatchStaged } from "./patch-in-place.js";
import { stageExtents, type ContentAsk } from "./extents-transfer.js";
import type { Presigned } from "./presign.js";
import { builderFor, patchSigning, type PatchSigning } from "./version-signature.js";
import { describedStream, recordedHash, stageContent, type ContentStream } from "./content-stream.js";

/**
 * Content below this size (new or basis) moves whole: one block or so of data costs less than
 * a signature, a delta job and a patch job.
 */
export const DELTA_MIN = 64 << 10;

/**
 * A sync's scan of the replica leaves changed files from this size on unhashed (content hash "" in
 * the record): the delta that sends them reads them anyway and hashes them beside its jobs
 * (`readDelta`). The holder's scan at attach still hashes: it runs under the holder's write lock,
 * and a hash learned later would be written outside it, beside other replicas' writers.
 */
export const HASH_AT_SEND_MIN = DELTA_SPLIT_MIN;

/** Largest signature accepted from a peer (a 1 TiB basis at the 128 KiB block cap needs about 150 MiB; 64 MiB covers 400 GiB). */
export const MAX_SIGNATURE = 64 << 20;

/**
 * Signatures use MD4 strong sums (block and sum lengths follow the basis's size): twice as fast as
 * BLAKE2 for the signature and the delta (measured on 256 MiB: 0.9 s vs 1.9 s, 0.7 s vs 1.6 s), and
 * collision resistance is not needed there, since every patch is checked with the whole-file
 * BLAKE2b hash and retried whole on a mismatch.
 */
export const SIGNATURE_OPTIONS = { hash: "md4" } as const;

/**
 * Asks the sender for an object's content: with a signature (of the receiver's basis) the answer's
 * chunks are a delta against that basis, with an {@link ExtentsAsk} the bytes of its ranges, with
 * nothing the whole content.
 */
export type ContentRequest = (ask?: ContentAsk) => ContentStream;

/** What the receiver knows of the content it is about to receive. */
export interface Want {
  /** The object on the receiver whose current version is the natural basis (same fid). */
  fid: string;
  /** The new content as the record states it; enables the same-content local copy. */
  expected?: Content;
  /**
   * Where a created object goes. The file at that name on the receiver is the version the new
   * object replaces: a "safe save" (write a copy, rename it over the original) is journaled as an
   * unlink and a create, and that old version is then the best basis there is.
   */
  place?: { parent: string; name: string };
  /** A close's base version and written extents: with them, a receiver holding that version asks for just those bytes. */
  base?: string;
  extents?: CloseExtents;
}

/** The content a close or create record states, if any. */
export function statedContent(r: JournalRecord): Content | undefined {
  return r.op === "close" || r.op === "create" ? r.content : undefined;
}

/** What the receiver of record `r`'s content knows of it (see {@link Want}). */
export function wantOf(r: JournalRecord): Want {
  if (r.op === "create") return { fid: r.fid, expected: r.content, place: { parent: r.parent, name: r.name } };
  if (r.op === "close") return { fid: r.fid, expected: r.content, base: r.base, extents: r.extents };
  return { fid: r.fid, expected: statedContent(r) };
}

/** Options of {@link receiveContent}. */
export interface ReceiveOptions {
  /** Counts the signature bytes it sends. */
  onSignature?: (bytes: number) => void;
  /** Signatures of bases made ahead (see `presign.ts`), used when they describe the basis as it is. */
  presigned?: Presigned;
}

/**
 * Stages the new content of `want.fid` in a temp file of `holding`, moving as little as possible:
 * a local copy when a file with the expected hash exists, else a delta against a basis — the
 * receiver's current version of the object, else the file at the place a created object goes —
 * or whole data for small or new files. Always hash-checked; one whole-file retry on
 * `HASH_MISMATCH` or an `RS_*` error. The basis's signature is the one kept with its version when
 * there is one (`kept-signatures.ts`), else one made ahead, else made now; large content gets its
 * own signature, for the next delta against it (`version-signature.ts`).
 *
 * The basis is opened before anything is awaited: an earlier record of the same batch (the unlink
 * of a safe save) may remove it while this transfer waits, and an open file stays readable.
 */
export async function receiveContent(holding: Holding, want: Want, request: ContentRequest, opts: ReceiveOptions = {}): Promise<StagedContent> {
  const basis = openBasis(holding, want);
  try {
    const copy = want.expected && (await copyLocal(holding, want.expected));
    if (copy) return copy;
    const inPlace = basis && (await receiveExtents(holding, basis.fd, want, request));
    if (inPlace) return inPlace;
    // an unreadable basis is no basis
    const signature = basis === undefined ? undefined : await signBasis(holding, basis, opts.presigned).catch(() => undefined);
    if (basis === undefined || signature === undefined) return await stageWhole(holding, want, request());
    opts.onSignature?.(signature.length);
    try {
      const signing = patchSigning(want.expected?.size, signature, basis.fd, SIGNATURE_OPTIONS);
      return await stageDelta(holding, basis.fd, request(signature), signing, inPlaceBasis(holding, basis, want));
    } catch (err) {
      if (!retried(err)) throw err;
      return await stageWhole(holding, want, request());
    }
  } finally {
    if (basis !== undefined) fs.closeSync(basis.fd);
  }
}

/** Whether a transfer that failed with `err` is retried another way (the content moved on, or a delta did not fit). */
function retried(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "HASH_MISMATCH" || (typeof code === "string" && code.startsWith("RS_"));
}

/** The close's written extents staged for an in-place change, when this side holds their base (`extents-transfer.ts`). */
async function receiveExtents(holding: Holding, basisFd: number, want: Want, request: ContentRequest): Promise<StagedContent | undefined> {
  const { base, extents, expected } = want;
  if (base === undefined || extents === undefined || expected === undefined) return undefined;
  try {
    return await stageExtents(holding, basisFd, { fid: want.fid, base, extents, expected }, request);
  } catch (err) {
    if (!retried(err)) throw err;
    return undefined; // the delta then
  }
}

/**
 * Signs ahead, in the background, the basis a transfer of object `fid`'s new content would use
 * (its current version here; see {@link receiveContent}), unless a signature is kept with it.
 */
export function presignBasis(holding: Holding, fid: string, presigned: Presigned): void {
  const basis = openBasis(holding, { fid });
  if (basis === undefined) return;
  if (basis.fid !== undefined && keptSignature(holding.set, basis.fid, basis.fd, SIGNATURE_OPTIONS) !== undefined) fs.closeSync(basis.fd);
  else presigned.sign(basis.fd);
}

/** The signature of the open basis: the one kept with its version, else one made ahead for it, else made now. */
async function signBasis(holding: Holding, basis: Basis, presigned?: Presigned): Promise<Buffer> {
  const kept = basis.fid === undefined ? undefined : keptSignature(holding.set, basis.fid, basis.fd, SIGNATURE_OPTIONS);
  return kept ?? (await presigned?.take(basis.fd)) ?? signatureOfFile(basis.fd, SIGNATURE_OPTIONS);
}

/** Whole content staged (see `stageContent`), its signature built on the way when it is large. */
async function stageWhole(holding: Holding, want: Want, stream: ContentStream): Promise<StagedContent> {
  const sign = builderFor(want.expected?.size, SIGNATURE_OPTIONS);
  if (sign === undefined) return stageContent(holding, stream);
  const staged = await stageContent(holding, { ...stream, chunks: sign.through(stream.chunks) });
  return { ...staged, signature: sign.signature };
}

/** An open basis file, and the object whose current version it is (none for a retired file). */
interface Basis {
  fd: number;
  fid?: string;
}

/**
 * The basis for `want`, opened, when a delta against it is worth a signature:
 * the receiver's current version of the object, else the file at the created object's place, or
 * the one retired from there earlier in the batch.
 */
function openBasis(holding: Holding, want: Want): Basis | undefined {
  if (want.expected && want.expected.size < DELTA_MIN) return undefined;
  const fsdb = holding.set.fsdb;
  const usable = (o: FsObject | undefined): o is FsObject => o?.type === "f" && o.size >= DELTA_MIN && !isPlaceholder(o);
  // opened beneath the root, never through a symlink (Holding.openRead)
  const candidates = function* (): Generator<{ open: () => number; fid?: string }> {
    const current = fsdb.get(want.fid);
    if (usable(current)) yield { open: () => holding.openRead(current.fid), fid: current.fid };
    if (want.place === undefined) return;
    const there = fsdb.child(want.place.parent, want.place.name);
    if (usable(there)) yield { open: () => holding.openRead(there.fid), fid: there.fid };
    const retired = holding.retiredAt(want.place.parent, want.place.name);
    if (retired !== undefined) yield { open: () => fs.openSync(retired, "r") };
  };
  try {
    for (const c of candidates()) return { fd: c.open(), fid: c.fid };
  } catch {
    // a missing or unsafe path: no basis, the transfer reports the real problem
  }
  return undefined;
}

/**
 * A local file already holding the expected content, copied to a temp file and checked; undefined
 * when there is none or it no longer matches. The copy takes the source's kept signature, if any.
 */
async function copyLocal(holding: Holding, expected: Content): Promise<StagedContent | undefined> {
  if (expected.hash === "") return undefined; // unknown until it is sent
  const same = holding.set.fsdb.byHash(expected.hash);
  if (same?.type !== "f" || same.size !== expected.size) return undefined;
  const temp = holding.tempPath();
  try {
    const fd = holding.openRead(same.fid);
    let signature: Promise<Buffer | undefined>;
    try {
      signature = Promise.resolve(keptSignature(holding.set, same.fid, fd, SIGNATURE_OPTIONS));
      await fs.promises.copyFile(fdPath(fd), temp, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
    } finally {
      fs.closeSync(fd);
    }
    await fs.promises.chmod(temp, 0o600);
    if ((await hashFile(temp)) === expected.hash) return { temp, content: expected, ticket: holding.stagedTicket(temp), signature };
  } catch {
    // changed or gone since the scan: fall back to a transfer
  }
  fs.rmSync(temp, { force: true });
  return undefined;
}

/**
 * The basis `basis` as one a delta may be applied to in place (`patch-in-place.ts`): the file
 * open is object `want.fid`'s recorded version (size, mtime, ctime, inode: `recordedHash`) and the
 * record is a close of it (only a close has a base), whose new size is known and at least
 * {@link IN_PLACE_MIN}.
 */
function inPlaceBasis(holding: Holding, basis: Basis, want: Want): InPlaceBasis | undefined {
  if (want.base === undefined || want.expected === undefined || want.expected.size < IN_PLACE_MIN || basis.fid !== want.fid) return undefined;
  const o = holding.set.fsdb.get(want.fid);
  if (o?.type !== "f" || o.hash === "" || recordedHash(o, fs.fstatSync(basis.fd, { bigint: true })) !== o.hash) return undefined;
  return { size: o.size, hash: o.hash, newSize: want.expected.size };
}

/**
 * Patches `basis` with a delta stream into a temp file, checked against the sender's hash; with
 * `signing`, the new version's signature comes with it. With `inPlace`, an aligned delta leaves
 * only its changed ranges staged, for an in-place change (`patch-in-place.ts`; no durability
 * ticket: the in-place change flushes the file itself).
 * Throws `HASH_MISMATCH` or the patch's `RS_*` error (and removes the temp file).
 */
async function stageDelta(holding: Holding, basis: number, stream: ContentStream, signing?: PatchSigning, inPlace?: InPlaceBasis): Promise<StagedContent> {
  let staged: PatchStaged | undefined;
  try {
    staged = await patchStaged(holding, basis, signing?.delta(stream.chunks) ?? stream.chunks, { through: signing?.output, inPlace, source: stream.source });
    await drain(stream); // anything after the delta's end command
    const content = await stream.done;
    if (!(await staged.matches(content.hash)) || staged.bytes !== content.size) {
      throw new ImzError("HASH_MISMATCH", `patched content does not match the sender's (${staged.bytes} bytes)`, { hint: "retried with whole-file data" });
    }
    const signature = signing?.signature;
    if (staged.ranges === undefined) return { temp: staged.temp, content, ticket: holding.stagedTicket(staged.temp), signature };
    return { temp: staged.temp, content, ticket: 0, signature, inPlace: { ranges: staged.ranges, baseHash: inPlace!.hash } };
  } catch (err) {
    if (staged !== undefined) {
      fs.rmSync(staged.temp, { force: true });
      await staged.release();
    }
    await drain(stream);
    throw err;
  }
}

/** Reads what is left of a stream (left unread, it would stay queued on the connection). */
async function drain(stream: ContentStream): Promise<void> {
  try {
    for await (const chunk of stream.chunks) void chunk;
  } catch {
    // the stream's own failure: the caller reports the first error
  }
}

/**
 * The sender's side: the delta turning the receiver's basis (`signature`) into the current content
 * of the file `open` opens (`file` names it in messages; object `obj` in the Fsdb), computed in parts, a job per core, and streamed
 * in order (`deltaInParts`). The reply's description carries the Fsdb's hash when
 * {@link recordedHash} vouches for it; else the file is hashed on a worker thread beside the jobs
 * (a hash cannot be split), and `learn` is given the hash with the file's status before and after. The description is settled before the delta's last chunk is sent: a
 * patch stops reading at the delta's end command. The stream offers the file as its `source`
 * (meaningful only to a receiver in this process).
 */
export function readDelta(open: () => Promise<fs.promises.FileHandle>, file: string, signature: Buffer, obj?: FsObject, learn?: HashLearner): ContentStream {
  let described!: (st: fs.BigIntStats) => void;
  const status = new Promise<fs.BigIntStats>((resolve) => (described = resolve));
  const stream = describedStream(async function* (settle) {
    const fh = await open();
    const hashing = fh.stat({ bigint: true }).then(async (st) => {
      described(st);
      const known = recordedHash(obj, st);
      if (known !== undefined) return { size: Number(st.size), mtimeNs: st.mtimeNs.toString(), hash: known };
      const { bytes, hash } = await hashOpenFile(fh.fd, file);
      learn?.(hash, st, await fh.stat({ bigint: true }));
      return { size: bytes, mtimeNs: st.mtimeNs.toString(), hash };
    });
    hashing.catch(() => undefined); // awaited below, also when the delta fails first
    try {
      const { size } = await fh.stat();
      let held: Buffer | undefined;
      for await (const chunk of deltaInParts(signature, fh, size)) {
        if (held !== undefined) yield held;
        held = chunk;
      }
      settle(await hashing);
      if (held !== undefined) yield held;
    } finally {
      await hashing.catch(() => undefined); // its read uses the descriptor
      await fh.close();
    }
  });
  // in process, the receiver may compare its patched output with this very file (`source-compare.ts`)
  return { ...stream, source: { open, status } };
}

/** Takes a content hash a sender computed, with the file's status before and after it read it. */
export type HashLearner = (hash: string, before: fs.BigIntStats, after: fs.BigIntStats) => void;

/** Reads a peer's signature upload, refusing one over {@link MAX_SIGNATURE} with `FRAME_TOO_LARGE`. */
export async function readSignature(data: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of data) {
    n += chunk.length;
    if (n > MAX_SIGNATURE) throw new ImzError("FRAME_TOO_LARGE", `signature upload over ${MAX_SIGNATURE} bytes`, { hint: "the peer sent an oversized signature; nothing was done" });
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
