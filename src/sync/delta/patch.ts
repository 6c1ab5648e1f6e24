/**
 * Patching: a basis plus a delta gives the new file. The basis is read by the addon itself with
 * `pread` on a file descriptor (or from memory), never through JavaScript; the output is hashed as it
 * is written so the caller can check it against the expected whole-file hash.
 */
import { write } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { promisify } from "node:util";
import type { Hash } from "node:crypto";
import { patchJob, startWriteback, type JobStats } from "./native.js";
import { collect, jobReadable, runJob, type ByteSource, type JobReadable, type OpenFile } from "./job.js";
import { createWholeHash, finishWholeHash } from "./hash.js";

/** What {@link patchFile} wrote. */
export interface PatchResult {
  /** Bytes written. */
  bytes: number;
  /** Whole-file hash of what was written (see `wholeFileHash`). */
  hash: string;
  /** librsync's statistics (literal and copy commands and bytes). */
  stats: JobStats;
}

/**
 * The new file's bytes: `delta` applied to `basis`, an open file descriptor (the job reads its own
 * duplicate, so the caller may close `basis` at any time) or bytes. A COPY past the basis's end rejects with `RS_INPUT_ENDED`.
 */
export function patchStream(basis: number | Uint8Array, delta: ByteSource): JobReadable {
  const job = patchJob(basis);
  return jobReadable(job, runJob(job, delta));
}

const writeFd = promisify(write);

/** Writes all of `chunk` at the current position of a FileHandle or raw descriptor. */
async function writeAll(target: FileHandle | number, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) {
    const written = typeof target === "number" ? writeFd(target, chunk, off, chunk.length - off, null) : target.write(chunk, off, chunk.length - off);
    off += (await written).bytesWritten;
  }
}

/** Bytes written between two writeback hints (see {@link startWriteback}). */
const WRITEBACK_EVERY = 16 << 20;

/**
 * Writes a job's output to `target` and hashes it; returns the bytes written. The next chunk is
 * asked for before this one is hashed, and a chunk is hashed while the previous one is written, so
 * librsync (a worker thread), the hash (event loop) and the write (another worker) overlap; writes
 * stay in order, one at a time. Every {@link WRITEBACK_EVERY} bytes the kernel is told to start
 * writing the file back, so its flush later finds most of it on disk already.
 */
async function writeHashed(output: AsyncGenerator<Buffer, void, undefined>, target: FileHandle | number, hash: Hash): Promise<number> {
  const fd = typeof target === "number" ? target : target.fd;
  let bytes = 0;
  let unhinted = 0;
  let hinted: Promise<void> = Promise.resolve();
  const write = async (chunk: Buffer): Promise<void> => {
    await writeAll(target, chunk);
    unhinted += chunk.length;
    if (unhinted >= WRITEBACK_EVERY) {
      unhinted = 0;
      hinted = hinted.then(() => startWriteback(fd, 0, 0)).catch(() => undefined); // a hint; its failure changes nothing
    }
  };
  let next = output.next();
  let written: Promise<void> = Promise.resolve();
  try {
    for (let r = await next; r.done !== true; r = await next) {
      next = output.next();
      const chunk = r.value;
      const previous = written;
      written = previous.then(() => write(chunk));
      written.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      hash.update(chunk);
      bytes += chunk.length;
      await previous;
    }
    await written;
    return bytes;
  } catch (err) {
    await next.catch(() => undefined); // let the step in flight finish, then free the job
    await written.catch(() => undefined);
    await output.return();
    throw err;
  } finally {
    await hinted;
  }
}

/**
 * Applies `delta` to a basis file (a path, or an open file left open), writing the result to `out`:
 * a path (created or truncated, closed at the end), or an open FileHandle or file descriptor
 * (written from its current position, left open).
 * Durability (fsync, rename into place) is the caller's: write to a temp file and rename it.
 */
export async function patchFile(basisFile: string | OpenFile, delta: ByteSource, out: string | number | FileHandle): Promise<PatchResult> {
  const basis = typeof basisFile === "string" ? await open(basisFile, "r") : basisFile;
  try {
    const owned = typeof out === "string" ? await open(out, "w") : null;
    const target = owned ?? (out as number | FileHandle);
    try {
      const job = patchJob(typeof basis === "number" ? basis : basis.fd);
      const output = runJob(job, delta);
      const hash = createWholeHash();
      const bytes = await writeHashed(output, target, hash);
      return { bytes, hash: finishWholeHash(hash), stats: job.stats() };
    } finally {
      await owned?.close();
    }
  } finally {
    if (typeof basisFile === "string") await (basis as FileHandle).close();
  }
}

/** The new file's bytes from in-memory basis and delta. */
export async function patchBuffer(basis: Uint8Array, delta: Uint8Array): Promise<Buffer> {
  return collect(patchStream(basis, delta));
}
