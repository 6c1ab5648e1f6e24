/**
 * Drives a native librsync job over an async source of bytes. Pull-based: the job only runs when
 * its consumer asks for output, so Node stream backpressure reaches librsync, and every
 * `rs_job_iter` runs on a libuv worker thread inside the addon.
 */
import type { FileHandle } from "node:fs/promises";
import { read } from "node:fs";
import { Readable } from "node:stream";
import { forwardLog, toDeltaError, type JobStats, type NativeJob, type NativeStep } from "./native.js";

/** Bytes in: an async iterable of chunks (a Node Readable, a generator) or one buffer. */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array;

/** A byte stream produced by a librsync job, with the job's statistics (final once it has ended). */
export type JobReadable = Readable & { stats(): JobStats };

const EMPTY = Buffer.alloc(0);

/** One step of `job` on a worker thread, its log forwarded, its failure an ImzError (`RS_*`). */
export async function step(job: NativeJob, input: Uint8Array, eof: boolean): Promise<NativeStep> {
  try {
    const result = await job.step(input, eof);
    forwardLog(result.log);
    return result;
  } catch (err) {
    const log = (err as { rsLog?: unknown } | null)?.rsLog;
    if (Array.isArray(log)) forwardLog(log as NativeStep["log"]);
    throw toDeltaError(err);
  }
}

function asChunks(source: ByteSource): AsyncIterable<Uint8Array> | Iterable<Uint8Array> {
  return source instanceof Uint8Array ? [source] : source;
}

function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return Buffer.from(chunk);
  throw new TypeError("librsync input must be bytes");
}

/** Sees every input chunk of a job, on the event loop while the job's first step on it runs on a worker. */
export type InputTap = (chunk: Uint8Array) => void;

/**
 * Feeds `source` to `job` and yields its output. Input left over once the job is done is ignored
 * (as librsync does). The job is freed when the generator finishes, fails or is abandoned.
 * `tap` (e.g. a whole-file hash) gets each chunk once the job's step on it has started, so the
 * two overlap; the job only reads its input, and the chunk stays valid until the step is done.
 */
export async function* runJob(job: NativeJob, source: ByteSource, tap?: InputTap): AsyncGenerator<Buffer, void, undefined> {
  try {
    for await (const chunk of asChunks(source)) {
      let rest = asBytes(chunk);
      let tapped = tap === undefined;
      while (rest.length > 0) {
        const pending = step(job, rest, false);
        if (!tapped) {
          tapped = true;
          try {
            tap!(rest);
          } catch (err) {
            await pending.catch(() => undefined); // a busy job cannot be freed
            throw err;
          }
        }
        const r = await pending;
        rest = rest.subarray(r.consumed);
        if (r.output.length > 0) yield r.output;
        if (r.done) return;
      }
    }
    for (;;) {
      const r = await step(job, EMPTY, true);
      if (r.output.length > 0) yield r.output;
      if (r.done) return;
    }
  } finally {
    job.close();
  }
}

/** {@link runJob} as a byte-mode Readable that also reports the job's statistics. */
export function jobReadable(job: NativeJob, output: AsyncIterable<Buffer>): JobReadable {
  // Room for one 4 MiB patch step ahead of the consumer, so librsync overlaps with writing.
  const stream = Readable.from(output, { objectMode: false, highWaterMark: 4 * READ_CHUNK });
  return Object.assign(stream, { stats: (): JobStats => job.stats() });
}

/** Read size for files fed to librsync. */
export const READ_CHUNK = 1024 * 1024;

/** A byte range of a file: from `start` (default 0) up to `end` (default: the end of the file). */
export interface FileRange {
  start?: number;
  end?: number;
}

/** An open file: a FileHandle, or a raw descriptor (e.g. one opened synchronously). */
export type OpenFile = FileHandle | number;

function readAt(file: OpenFile, buffer: Buffer, length: number, position: number | null): Promise<{ bytesRead: number }> {
  if (typeof file !== "number") return file.read(buffer, 0, length, position);
  return new Promise((resolve, reject) => read(file, buffer, 0, length, position, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead }))));
}

/**
 * Reads an open file through two reused buffers, reading the next chunk while the caller works on
 * the current one; the file stays open. Each chunk is valid only until the next is asked for —
 * right for {@link runJob}, which is done with a chunk before it asks again. (Fresh buffers per
 * read, as fs streams allocate, cost page faults comparable to librsync's own work.) Without a
 * `range` it reads from the file's current position; with one, that range at explicit offsets
 * (so several readers may share one descriptor).
 */
export async function* readChunks(file: OpenFile, size = READ_CHUNK, range?: FileRange): AsyncGenerator<Buffer, void, undefined> {
  const buffers = [Buffer.allocUnsafeSlow(size), Buffer.allocUnsafeSlow(size)] as const;
  let position = range === undefined ? null : (range.start ?? 0);
  const end = range?.end ?? Infinity;
  const next = (buffer: Buffer): Promise<{ bytesRead: number }> => {
    const read = readAt(file, buffer, position === null ? size : Math.max(0, Math.min(size, end - position)), position);
    read.catch(() => undefined); // awaited when the next chunk is asked for; a failure meanwhile is not unhandled
    return read;
  };
  let which = 0;
  let pending = next(buffers[0]);
  try {
    for (;;) {
      const { bytesRead } = await pending;
      if (bytesRead === 0) return;
      if (position !== null) position += bytesRead;
      const current = buffers[which];
      which ^= 1;
      pending = next(buffers[which]);
      yield current.subarray(0, bytesRead);
    }
  } finally {
    await pending.catch(() => undefined);
  }
}

/** {@link readChunks} of a FileHandle that is closed at the end. */
export async function* readReused(handle: FileHandle, size = READ_CHUNK, range?: FileRange): AsyncGenerator<Buffer, void, undefined> {
  try {
    yield* readChunks(handle, size, range);
  } finally {
    await handle.close();
  }
}

/** Reads a job's output (any stream or generator of Buffers) to the end as one Buffer. */
export async function collect(output: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of output) parts.push(part);
  return Buffer.concat(parts);
}

/**
 * Runs `source` ahead of its consumer: its chunks are taken as fast as it makes them and queued, up
 * to `maxBytes` (then it waits for the consumer to take some). Its failure surfaces where the
 * consumer reaches it; a consumer that stops early closes `source` (after its pending step).
 */
export function ahead(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer, void, undefined> {
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  let wake: (() => void) | undefined; // the consumer, waiting for a chunk
  let resume: (() => void) | undefined; // the pump, waiting for room
  const pump = (async () => {
    try {
      for await (const chunk of source) {
        queue.push(chunk);
        queued += chunk.length;
        wake?.();
        while (queued > maxBytes && !stopped) await new Promise<void>((r) => (resume = r));
        if (stopped) return;
      }
    } catch (error) {
      failure = { error };
    } finally {
      ended = true;
      wake?.();
    }
  })();
  return (async function* () {
    try {
      for (;;) {
        const chunk = queue.shift();
        if (chunk !== undefined) {
          queued -= chunk.length;
          resume?.();
          yield chunk;
        } else if (failure !== undefined) {
          throw failure.error;
        } else if (ended) {
          return;
        } else {
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      }
    } finally {
      stopped = true;
      resume?.();
      await pump;
    }
  })();
}
