/**
 * Signatures: computing one from a basis (file, stream or buffer) and loading one for deltas
 * (`rs_loadsig_begin` then `rs_build_hash_table`, both on a worker thread).
 */
import { open } from "node:fs/promises";
import { loadSignatureJob, signatureJob, type NativeSignature } from "./native.js";
import { collect, jobReadable, readReused, runJob, type ByteSource, type JobReadable } from "./job.js";
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
