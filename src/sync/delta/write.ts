/**
 * Writing a stream of chunks to a file while something (a whole-file hash) looks at each chunk,
 * with the two overlapped, and the kernel told to start writing the file back as it grows.
 */
import { write } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { promisify } from "node:util";
import { startWriteback } from "./native.js";

const writeFd = promisify(write);

/** Writes all of `chunk` at offset `at` of a FileHandle or raw descriptor (null: at its current position). */
async function writeAll(target: FileHandle | number, chunk: Buffer, at: number | null): Promise<void> {
  for (let off = 0; off < chunk.length; ) {
    const pos = at === null ? null : at + off;
    const written = typeof target === "number" ? writeFd(target, chunk, off, chunk.length - off, pos) : target.write(chunk, off, chunk.length - off, pos);
    off += (await written).bytesWritten;
  }
}

/** Bytes written between two writeback hints (see {@link startWriteback}). */
const WRITEBACK_EVERY = 16 << 20;

/**
 * Writes the rest of `chunks` to `target` (left open) at its current position, or from offset
 * `at` on (the file's position then unused: other writes may go on at other offsets), handing each chunk
 * to `onChunk` (e.g. a hash update) first; returns the bytes written. The next chunk is asked for
 * before `onChunk` sees this one, and `onChunk` runs while the previous chunk is written, so the
 * producer (a librsync job or a connection), `onChunk` (the event loop) and the write (a worker)
 * overlap; writes stay in order, one at a time. Every {@link WRITEBACK_EVERY} bytes the kernel is
 * told to start writing the file back, so the flush that later makes it durable has little left.
 * On failure the iterator is closed (after its pending step) and the error rethrown.
 */
export async function writeChunks(
  chunks: AsyncIterator<Buffer>,
  target: FileHandle | number,
  onChunk: (chunk: Buffer) => Promise<void> | undefined | void,
  at: number | null = null,
): Promise<number> {
  const fd = typeof target === "number" ? target : target.fd;
  let bytes = 0;
  let unhinted = 0;
  let hinted: Promise<void> = Promise.resolve();
  const writeOne = async (chunk: Buffer, pos: number | null): Promise<void> => {
    await writeAll(target, chunk, pos);
    unhinted += chunk.length;
    if (unhinted >= WRITEBACK_EVERY) {
      unhinted = 0;
      hinted = hinted.then(() => startWriteback(fd, 0, 0)).catch(() => undefined); // a hint; its failure changes nothing
    }
  };
  // The next step is asked for early and awaited later: a failure of it (a connection lost) while
  // a write is awaited must not count as unhandled.
  const ask = (): Promise<IteratorResult<Buffer>> => {
    const p = chunks.next();
    p.catch(() => undefined);
    return p;
  };
  let next = ask();
  let written: Promise<void> = Promise.resolve();
  try {
    for (let r = await next; r.done !== true; r = await next) {
      next = ask();
      const chunk = r.value;
      const previous = written;
      const pos = at === null ? null : at + bytes;
      written = previous.then(() => writeOne(chunk, pos));
      written.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      const seen = onChunk(chunk); // a promise: it wants this call to wait (backpressure)
      bytes += chunk.length;
      await previous;
      if (seen) await seen;
    }
    await written;
    return bytes;
  } catch (err) {
    await next.catch(() => undefined); // let the step in flight finish, then free the producer
    await written.catch(() => undefined);
    await chunks.return?.();
    throw err;
  } finally {
    await hinted;
  }
}
