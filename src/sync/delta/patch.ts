/**
 * Patching: a basis plus a delta gives the new file. The basis is read by the addon itself with
 * `pread` on a file descriptor (or from memory), never through JavaScript; the output is hashed as it
 * is written so the caller can check it against the expected whole-file hash.
 */
import { open, type FileHandle } from "node:fs/promises";
import { patchJob, type JobStats } from "./native.js";
import { writeChunks } from "./write.js";
import { collect, jobReadable, runJob, type ByteSource, type JobReadable, type OpenFile } from "./job.js";
import { BackgroundHasher } from "../../journal/content-hash.js";

/** What {@link patchFile} wrote. */
export interface PatchResult {
  /** Bytes written. */
  bytes: number;
  /** Content hash of what was written (see `journal/content-hash.ts`). */
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

/**
 * Applies `delta` to a basis file (a path, or an open file left open), writing the result to `out`:
 * a path (created or truncated, closed at the end), or an open FileHandle or file descriptor
 * (written from its current position, left open).
 * Durability (fsync, rename into place) is the caller's: write to a temp file and rename it.
 * `through` sees the output on its way to `out` (e.g. building the new file's signature).
 */
export async function patchFile(
  basisFile: string | OpenFile,
  delta: ByteSource,
  out: string | number | FileHandle,
  through?: (output: AsyncIterable<Buffer>) => AsyncIterable<Buffer>,
): Promise<PatchResult> {
  const basis = typeof basisFile === "string" ? await open(basisFile, "r") : basisFile;
  try {
    const owned = typeof out === "string" ? await open(out, "w") : null;
    const target = owned ?? (out as number | FileHandle);
    try {
      const job = patchJob(typeof basis === "number" ? basis : basis.fd);
      const patched = runJob(job, delta);
      const output = through === undefined ? patched : through(patched)[Symbol.asyncIterator]();
      const hash = new BackgroundHasher();
      const bytes = await writeChunks(output, target, (chunk) => hash.update(chunk));
      return { bytes, hash: await hash.digestHex(), stats: job.stats() };
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
