/**
 * Deltas: the new version of a file expressed against a basis's signature, as a stream of
 * `rdiff`-compatible delta bytes.
 */
import { open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { ImzError } from "../../errors.js";
import { deltaJob } from "./native.js";
import { ahead, collect, jobReadable, READ_CHUNK, readChunks, readReused, runJob, type ByteSource, type InputTap, type JobReadable, type OpenFile } from "./job.js";
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

/** Files from this size on are deltified by several jobs at once (see {@link deltaInParts}). */
export const DELTA_SPLIT_MIN = 16 << 20;
/** Output of a later part queued, at most, while an earlier part is still being consumed. */
const AHEAD_MAX = 32 << 20;
/** Bytes of a delta's header (its magic). */
const DELTA_HEADER = 4;

/**
 * The delta of the first `size` bytes and on of the open file `file` (read at explicit offsets, left
 * open) against `signature` (raw bytes), computed by up to `parts` jobs at once (default: one per
 * core, at most 4) on consecutive ranges of the file, each against its own loaded copy of the
 * signature, and streamed in order: the first part's output as it is made, each later part's queued
 * meanwhile (up to 32 MiB each, then that job waits). The last part reads to the end of the file.
 *
 * The result is one valid `rdiff` delta — the first part's header, every part's commands in order
 * (a COPY names absolute basis offsets, so commands concatenate), one end command. Parts start at
 * multiples of the signature's block length, so where the new file is aligned with its basis (edits
 * in place, appends) the bytes are the one-job delta's; elsewhere a boundary costs at most about a
 * block of literal data (the matched block it cuts).
 */
export async function* deltaInParts(signature: Buffer, file: OpenFile, size: number, parts = Math.min(4, availableParallelism())): AsyncGenerator<Buffer, void, undefined> {
  const block = signature.length >= 12 ? signature.readUInt32BE(4) : 0;
  const count = parts >= 2 && size >= DELTA_SPLIT_MIN && block > 0 ? parts : 1;
  const per = count > 1 ? Math.ceil(size / count / block) * block : size;
  const loaded = await Promise.all(Array.from({ length: count }, () => loadSignature(signature)));
  const streams = loaded.map((sig, i) => {
    const range = { start: i * per, end: i === count - 1 ? Infinity : (i + 1) * per };
    const job = deltaJob(sig.native);
    const output = runJob(job, readChunks(file, READ_CHUNK, range));
    return i === 0 ? output : ahead(output, AHEAD_MAX);
  });
  try {
    for (const [i, stream] of streams.entries()) yield* commandsOf(stream, i === 0, i === count - 1);
  } finally {
    for (const stream of streams) await stream.return(undefined);
  }
}

/** A part's delta output, without its header (unless `header`) and its end command (unless `end`). */
async function* commandsOf(output: AsyncIterable<Buffer>, header: boolean, end: boolean): AsyncGenerator<Buffer, void, undefined> {
  let skip = header ? 0 : DELTA_HEADER;
  let held: Buffer | undefined;
  for await (let chunk of output) {
    if (skip > 0) {
      const cut = Math.min(skip, chunk.length);
      skip -= cut;
      chunk = chunk.subarray(cut);
      if (chunk.length === 0) continue;
    }
    if (end) {
      yield chunk;
      continue;
    }
    if (held !== undefined) yield held;
    held = chunk;
  }
  if (end) return;
  if (held === undefined || held[held.length - 1] !== 0) {
    throw new ImzError("RS_INTERNAL_ERROR", "a delta part did not end with an end command", { hint: "a librsync or addon bug; report it" });
  }
  if (held.length > 1) yield held.subarray(0, -1);
}
