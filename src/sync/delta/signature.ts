/**
 * Signatures: computing one from a basis (file, stream or buffer) and loading one for deltas
 * (`rs_loadsig_begin` then `rs_build_hash_table`, both on a worker thread).
 */
import { open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { ImzError } from "../../errors.js";
import { loadSignatureJob, signatureJob, type NativeSignature } from "./native.js";
import { collect, jobReadable, READ_CHUNK, readReused, runJob, type ByteSource, type JobReadable } from "./job.js";
import { resolveSignatureOptions, type SignatureArgs, type SignatureOptions } from "./options.js";

/** A signature stream and the arguments it was computed with. */
export type SignatureReadable = JobReadable & { args: SignatureArgs };

/**
 * The signature of `source`, a basis of `fileSize` bytes (-1 if unknown: options left to librsync
 * then use its defaults for an unknown size, as `rdiff` does on a pipe).
 */
export function signatureStream(source: ByteSource, fileSize: number, options: SignatureOptions = {}): SignatureReadable {
  const resolved = resolveSignatureOptions(fileSize, options);
  const job = signatureJob(resolved.magic, resolved.blockLength, resolved.strongLength, fileSize);
  const args: SignatureArgs = { magic: job.magic, blockLength: job.blockLength, strongLength: job.strongLength };
  return Object.assign(jobReadable(job, runJob(job, source)), { args });
}

/** The signature of the file at `path`, streamed; the block length follows the file's size. */
export async function signatureFile(path: string, options: SignatureOptions = {}): Promise<SignatureReadable> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    return signatureStream(readReused(handle), size, options);
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Files from this size on are signed by several jobs at once (see {@link signatureOfFile}). */
const SPLIT_MIN = 16 << 20;
/** Every signature starts with this many header bytes: magic, block length, strong sum length. */
const HEADER_BYTES = 12;

/**
 * The signature of the file at `path` as bytes — the bytes {@link signatureFile} streams — computed
 * by up to `parts` jobs at once (default: one per core, at most 4) on consecutive block-aligned
 * ranges. Each block's sums depend only on that block, so the parts' sums after the first part's
 * header are the whole file's signature; on an otherwise idle machine two cores halve the wait.
 */
export async function signatureOfFile(path: string, options: SignatureOptions = {}, parts = Math.min(4, availableParallelism())): Promise<Buffer> {
  const first = await open(path, "r");
  let size: number;
  try {
    size = (await first.stat()).size;
  } catch (err) {
    await first.close();
    throw err;
  }
  const args = resolveSignatureOptions(size, options);
  if (parts < 2 || size < SPLIT_MIN || args.blockLength <= 0 || args.strongLength <= 0) {
    return collect(signatureStream(readReused(first), size, options));
  }
  const per = Math.ceil(size / parts / args.blockLength) * args.blockLength;
  const signPart = async (i: number): Promise<Buffer> => {
    const handle = i === 0 ? first : await open(path, "r");
    const job = signatureJob(args.magic, args.blockLength, args.strongLength, size);
    return collect(runJob(job, readReused(handle, READ_CHUNK, { start: i * per, end: Math.min(size, (i + 1) * per) })));
  };
  const outputs = await Promise.all(Array.from({ length: parts }, (_, i) => signPart(i)));
  const header = outputs[0]!.subarray(0, HEADER_BYTES);
  if (outputs.some((o) => !o.subarray(0, HEADER_BYTES).equals(header))) {
    throw new ImzError("RS_INTERNAL_ERROR", "signature parts disagree on their header", { hint: "a librsync or addon bug; report it" });
  }
  return Buffer.concat([outputs[0]!, ...outputs.slice(1).map((o) => o.subarray(HEADER_BYTES))]);
}

/** The signature of in-memory bytes. */
export async function signatureBuffer(data: Uint8Array, options: SignatureOptions = {}): Promise<Buffer> {
  return collect(signatureStream(data, data.length, options));
}

/** A loaded signature: opaque, indexed, ready for {@link deltaStream}; used by one delta at a time. */
export interface LoadedSignature {
  /** The native handle (freed when garbage-collected). */
  readonly native: NativeSignature;
  readonly blockLength: number;
  readonly blockCount: number;
}

/**
 * Reads a signature (bytes, or a stream of them) and indexes it. A damaged or truncated signature
 * rejects with an ImzError (`RS_BAD_MAGIC`, `RS_CORRUPT`, `RS_INPUT_ENDED`, `RS_PARAM_ERROR`).
 */
export async function loadSignature(source: ByteSource): Promise<LoadedSignature> {
  const job = loadSignatureJob();
  await collect(runJob(job, source));
  const native = job.signature();
  return { native, blockLength: native.blockLength, blockCount: native.blockCount };
}
