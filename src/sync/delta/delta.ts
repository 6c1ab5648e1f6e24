/**
 * Deltas: the new version of a file expressed against a basis's signature, as a stream of
 * `rdiff`-compatible delta bytes.
 */
import { open } from "node:fs/promises";
import { deltaJob } from "./native.js";
import { collect, jobReadable, readReused, runJob, type ByteSource, type InputTap, type JobReadable } from "./job.js";
import { loadSignature, type LoadedSignature } from "./signature.js";

/**
 * The delta turning the signature's basis into `source`. The signature is leased for the life of
 * the stream (until it ends, fails or is destroyed); starting a second delta on it meanwhile throws
 * an ImzError `RS_PARAM_ERROR`. `tap` sees the input as the job reads it (see {@link runJob}).
 */
export function deltaStream(signature: LoadedSignature, source: ByteSource, tap?: InputTap): JobReadable {
  const job = deltaJob(signature.native);
  return jobReadable(job, runJob(job, source, tap));
}

/** The delta of the file at `path` against `signature` (loaded, or raw signature bytes). */
export async function deltaFile(signature: LoadedSignature | Uint8Array, path: string): Promise<JobReadable> {
  const loaded = signature instanceof Uint8Array ? await loadSignature(signature) : signature;
  const handle = await open(path, "r");
  try {
    return deltaStream(loaded, readReused(handle));
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** The delta of in-memory bytes against raw signature bytes. */
export async function deltaBuffer(signature: Uint8Array, data: Uint8Array): Promise<Buffer> {
  return collect(deltaStream(await loadSignature(signature), data));
}
