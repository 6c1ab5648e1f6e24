/**
 * Deltas: the new version of a file expressed against a basis's signature, as a stream of
 * `rdiff`-compatible delta bytes.
 */
import { open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { deltaJob } from "./native.js";
import { collect, jobReadable, READ_CHUNK, readChunks, readReused, runJob, type ByteSource, type InputTap, type JobReadable, type OpenFile } from "./job.js";
import { clip, commandsOf, cutPoint, Encoder, headerOf, type Command } from "./splice.js";
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
/** Size of the pieces a large file is deltified in (see {@link deltaInParts}). */
const PIECE = 16 << 20;

/** How many pieces {@link deltaInParts} cuts a file of `size` bytes into, with `parts` jobs at once and basis blocks of `block` bytes. */
export function deltaPieces(size: number, block: number, parts: number): number {
  return parts >= 2 && size >= DELTA_SPLIT_MIN && block > 0 ? Math.max(parts, Math.ceil(size / PIECE)) : 1;
}

/**
 * The delta of the first `size` bytes and on of the open file `file` (read at explicit offsets, left
 * open) against `signature` (raw bytes), computed in pieces of about 16 MiB by up to `parts` jobs at
 * once (default: one per core, at most 4), each against one of `parts` loaded copies of the
 * signature, and streamed in order: each piece's commands as soon as it and the piece before it
 * are done, so the receiver's patch starts after the first piece rather than after the first run
 * of matched blocks ends (librsync merges a run into one COPY, sent when the run ends: after an
 * insert in the middle, half-way through the file). The last piece reads to the end of the file.
 *
 * The result is one valid `rdiff` delta: the first piece's header, every piece's commands in order
 * (a COPY names absolute basis offsets), one end command. Pieces start at multiples of the block
 * length, and each but the last is deltified a block past its end, the join passing from one
 * piece's commands to the next's where that sends the fewest literal bytes (`splice.ts`): where the
 * new file is aligned with its basis, or shifted against it, the bytes are the one-job delta's but
 * a COPY command per boundary (at most 17 bytes: a piece's last COPY is sent with the piece).
 */
export async function* deltaInParts(signature: Buffer, file: OpenFile, size: number, parts = Math.min(4, availableParallelism())): AsyncGenerator<Buffer, void, undefined> {
  const block = signature.length >= 12 ? signature.readUInt32BE(4) : 0;
  const count = deltaPieces(size, block, parts);
  if (count === 1) {
    const job = deltaJob((await loadSignature(signature)).native);
    yield* runJob(job, readChunks(file, READ_CHUNK, { start: 0 }));
    return;
  }
  const per = Math.ceil(size / count / block) * block;
  // loaded signatures, each used by one job at a time (librsync keeps match statistics in it)
  const free = await Promise.all(Array.from({ length: Math.min(parts, count) }, () => loadSignature(signature)));
  let stopped = false;
  const piece = async (i: number): Promise<Buffer> => {
    const sig = free.pop()!;
    try {
      const range = { start: i * per, end: i === count - 1 ? Infinity : (i + 1) * per + block };
      return await collect(runJob(deltaJob(sig.native), until(() => stopped, readChunks(file, READ_CHUNK, range))));
    } finally {
      free.push(sig);
    }
  };
  const started: Array<Promise<Buffer>> = [];
  const start = (i: number): void => {
    if (i >= count) return;
    started[i] = piece(i);
    started[i]!.catch(() => undefined); // awaited in order below
  };
  for (let i = 0; i < Math.min(parts, count); i++) start(i);
  const out = new Encoder();
  let held: Command[] = []; // the previous piece's commands past its end (its overlap into this piece)
  try {
    for (let i = 0; i < count; i++) {
      const delta = await started[i]!;
      start(i + parts);
      if (i === 0) out.raw(headerOf(delta));
      const from = i * per;
      const commands = commandsOf(delta, from);
      const cut = i === 0 ? from : cutPoint(held, commands, from);
      for (const cmd of clip(held, from, cut)) out.push(cmd);
      const end = i === count - 1 ? Infinity : (i + 1) * per;
      for (const cmd of clip(commands, cut, end)) out.push(cmd);
      held = clip(commands, end, Infinity);
      // sent now, not merged with the next piece's first COPY: a patch may start on it
      if (i === count - 1) out.raw(Buffer.from([0]));
      else out.flush();
      if (out.pending > 0) yield Buffer.concat(out.take());
    }
  } finally {
    stopped = true;
    await Promise.allSettled(started);
  }
}

/** `chunks` until `stop()` says otherwise (checked before each chunk). */
async function* until(stop: () => boolean, chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
  for await (const chunk of chunks) {
    if (stop()) return;
    yield chunk;
  }
}
