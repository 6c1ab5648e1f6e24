/**
 * The project's librsync addon (`native/`, built by node-gyp as `build/Release/imz_rsync.node`),
 * loaded on first use, with the types of what it exports. Everything here is a thin, typed view of
 * the C++ side; the streaming API over it lives in the sibling modules.
 */
import { createRequire } from "node:module";
import { ImzError, type ErrorCode } from "../../errors.js";
import { installed } from "../../install.js";

/** librsync's statistics for one job (rs_stats_t); byte counts are exact below 2^53. */
export interface JobStats {
  literalCommands: number;
  literalBytes: number;
  literalCommandBytes: number;
  copyCommands: number;
  copyBytes: number;
  copyCommandBytes: number;
  falseMatches: number;
  signatureBlocks: number;
  blockLength: number;
  inBytes: number;
  outBytes: number;
}

/** A syslog-style level (0 emergency … 3 error, 4 warning … 7 debug) and one librsync message. */
export type LogEntry = [level: number, message: string];

/** What one `step` of a native job returns. */
export interface NativeStep {
  /** Bytes of the given input the job took; the caller passes the rest again. */
  consumed: number;
  /** Output produced by this step (may be empty). */
  output: Buffer;
  /** The job finished; later input is ignored. */
  done: boolean;
  /** Messages librsync logged during the step. */
  log: LogEntry[];
}

/** A loaded signature, indexed with `rs_build_hash_table`, usable by one delta job at a time. */
export interface NativeSignature {
  readonly blockLength: number;
  readonly blockCount: number;
}

/** A librsync job; one `step` in flight at a time (a second concurrent call rejects with RS_PARAM_ERROR). */
export interface NativeJob {
  step(input: Uint8Array, eof: boolean): Promise<NativeStep>;
  stats(): JobStats;
  /** Frees the job early (it is freed by itself when it ends or fails). */
  close(): void;
  /** The loaded signature, once a `loadsig` job has completed. */
  signature(): NativeSignature;
  /** Resolved signature arguments (signature jobs only). */
  readonly magic: number;
  readonly blockLength: number;
  readonly strongLength: number;
}

/** Constructors of the four job kinds (block/strong length 0 and file size -1 follow `rs_sig_args`). */
export interface NativeJobConstructor {
  new (kind: "signature", magic: number, blockLength: number, strongLength: number, fileSize: number): NativeJob;
  new (kind: "loadsig"): NativeJob;
  new (kind: "delta", signature: NativeSignature): NativeJob;
  new (kind: "patch", basis: number | Uint8Array): NativeJob;
}

/** Everything the addon exports. */
export interface ImzRsyncBinding {
  Job: NativeJobConstructor;
  setTraceLevel(level: number): void;
  librsyncVersion: string;
  utimensat(path: string, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): Promise<void>;
  syncfs(path: string): Promise<void>;
  startWriteback(fd: number, offset: number, length: number): Promise<void>;
  copyRanges(out: number, pieces: Float64Array): Promise<void>;
  releaseCache(fd: number, offset: number, length: number): void;
  utimensatSync(path: string, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): void;
  Blake2b: new () => NativeBlake2b;
  Blake2bStream: new () => NativeBlake2bStream;
  hashFd(fd: number, path?: string): Promise<{ digest: Buffer; bytes: number }>;
  /** One directory read and stat'ed on a worker thread, as a packed buffer (`src/filter/walk.ts`). */
  walkDir(path: string | Buffer, skip?: string, hashBelow?: number, known?: Buffer): Promise<Buffer>;
}

/** An incremental BLAKE2b-512 (libb2) on the calling thread; `digest` once. */
export interface NativeBlake2b {
  update(data: Uint8Array): NativeBlake2b;
  digest(): Buffer;
}

/** An incremental BLAKE2b-512 whose updates run on worker threads, one at a time; `digest` once. */
export interface NativeBlake2bStream {
  update(data: Uint8Array): Promise<void>;
  /** On the calling thread (no update may be in flight). */
  updateNow(data: Uint8Array): void;
  digest(): Buffer;
}

let loaded: ImzRsyncBinding | undefined;

/** The loaded addon; throws `UNSUPPORTED` with a hint when it has not been built. */
export function binding(): ImzRsyncBinding {
  if (loaded === undefined) {
    const require = createRequire(import.meta.url);
    try {
      loaded = require(installed("build", "Release", "imz_rsync.node")) as ImzRsyncBinding;
    } catch (err) {
      throw new ImzError("UNSUPPORTED", "the librsync addon (imz_rsync.node) is not built or cannot load", {
        hint: "run `bash scripts/setup.sh` (npm ci builds it with node-gyp; needs librsync-dev)",
        cause: err,
      });
    }
  }
  return loaded;
}

/** Runs `make`, turning an addon error (e.g. a leased signature, bad arguments) into an ImzError. */
function guarded(make: () => NativeJob): NativeJob {
  try {
    return make();
  } catch (err) {
    throw toDeltaError(err);
  }
}

/** A signature job; 0 / -1 arguments and `fileSize` -1 follow `rs_sig_args` (see options.ts). */
export function signatureJob(magic: number, blockLength: number, strongLength: number, fileSize: number): NativeJob {
  return guarded(() => new (binding().Job)("signature", magic, blockLength, strongLength, fileSize));
}

/** A job reading a signature; `signature()` gives it, indexed, once the job is done. */
export function loadSignatureJob(): NativeJob {
  return guarded(() => new (binding().Job)("loadsig"));
}

/** A delta job against a loaded signature, which it leases until it ends. */
export function deltaJob(signature: NativeSignature): NativeJob {
  return guarded(() => new (binding().Job)("delta", signature));
}

/** A patch job reading its basis from a file descriptor (with pread) or from bytes. */
export function patchJob(basis: number | Uint8Array): NativeJob {
  return guarded(() => new (binding().Job)("patch", basis));
}

/** A new incremental BLAKE2b-512 hashing on worker threads (see `journal/content-hash.ts`). */
export function blake2bStream(): NativeBlake2bStream {
  return new (binding().Blake2bStream)();
}

/** A new incremental BLAKE2b-512 (see `journal/content-hash.ts`). */
export function blake2b(): NativeBlake2b {
  return new (binding().Blake2b)();
}

/**
 * BLAKE2b-512 of the whole file open at `fd` (read from offset 0 with pread, whatever its position),
 * computed on a worker thread; rejects with a Node-style errno error naming `path`.
 */
export function hashFd(fd: number, path: string): Promise<{ digest: Buffer; bytes: number }> {
  return binding().hashFd(fd, path);
}

/**
 * Sets a file's access and modification times to the nanosecond (Node's `fs.utimes` goes through
 * doubles and loses precision). With `noFollow` a symlink's own times are set. Runs on a worker
 * thread; rejects with a Node-style errno error (`code`, `syscall`, `path`).
 */
export function utimensat(path: string, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): Promise<void> {
  return binding().utimensat(path, atimeNs, mtimeNs, noFollow);
}

/** {@link utimensat} on the calling thread (one syscall; no trip to the thread pool). Throws errno errors. */
export function utimensatSync(path: string, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean): void {
  binding().utimensatSync(path, atimeNs, mtimeNs, noFollow);
}

/**
 * Flushes the whole filesystem holding `path` to disk (`syncfs(2)`) on a worker thread: one call
 * makes a batch of staged files durable. Rejects with a Node-style errno error.
 */
export function syncfs(path: string): Promise<void> {
  return binding().syncfs(path);
}

/**
 * Starts writing `length` bytes of file descriptor `fd` from `offset` back to disk without waiting
 * for them (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`, on a worker thread): a large file then
 * reaches the disk while it is being written, and the flush that makes it durable has little left.
 * Only a hint: durability still needs a flush. Rejects with a Node-style errno error.
 */
export function startWriteback(fd: number, offset: number, length: number): Promise<void> {
  return binding().startWriteback(fd, offset, length);
}

/** One byte range to copy: `length` bytes of file descriptor `fd` from offset `from`, to offset `to` of the target. */
export interface CopyPiece {
  fd: number;
  from: number;
  to: number;
  length: number;
  /** Release the source's cached pages of the range once copied (see {@link releaseCache}). */
  release?: boolean;
}

/**
 * Copies `pieces` to the file open as `out`, in the kernel (`copy_file_range`: page cache to page
 * cache, no JavaScript buffer), on a worker thread; neither file's position is used or moved, so
 * writes to other offsets of `out` may go on meanwhile. Falls back to `pread`/`pwrite` where the
 * kernel cannot. Rejects with a Node-style errno error.
 */
export function copyRanges(out: number, pieces: readonly CopyPiece[]): Promise<void> {
  return binding().copyRanges(out, Float64Array.from(pieces.flatMap((p) => [p.fd, p.from, p.to, p.length, p.release === true ? 1 : 0])));
}

/**
 * Asks the kernel to drop the clean cached pages of `length` bytes of file descriptor `fd` from
 * `offset` (`posix_fadvise` `POSIX_FADV_DONTNEED`; dirty pages are only written back, nothing is
 * lost): for a version about to be replaced whose bytes have been consumed, so that the pages the
 * new version is written into are those, not memory taken afresh. Throws a Node-style errno error.
 */
export function releaseCache(fd: number, offset: number, length: number): void {
  binding().releaseCache(fd, offset, length);
}

/** Receives every message librsync logs, with its level. */
export type RsyncLogger = (level: number, message: string) => void;

let logger: RsyncLogger | null = null;

/**
 * Routes librsync's messages (never written to stderr) to `fn`, or drops them when `fn` is null.
 * `level` (default 6, info) is librsync's threshold, `rs_trace_set_level`.
 */
export function setRsyncLogger(fn: RsyncLogger | null, level = 6): void {
  logger = fn;
  binding().setTraceLevel(level);
}

/** Hands a step's messages to the logger, if one is set. */
export function forwardLog(log: readonly LogEntry[]): void {
  if (logger === null) return;
  for (const [level, message] of log) logger(level, message);
}

const HINTS: Partial<Record<ErrorCode, string>> = {
  RS_BAD_MAGIC: "the input is not a librsync signature or delta of a known format",
  RS_CORRUPT: "the signature or delta is damaged; compute it again",
  RS_INPUT_ENDED: "the signature or delta is truncated, or the basis is shorter than the delta expects (wrong basis?)",
  RS_PARAM_ERROR: "check the block length, sum length and hash options, and that each job has one call at a time",
  RS_IO_ERROR: "the basis file could not be read",
  RS_MEM_ERROR: "librsync ran out of memory",
  RS_INTERNAL_ERROR: "a librsync or addon bug; report it with the input that caused it",
};

const RS_CODES: ReadonlySet<string> = new Set(Object.keys(HINTS));

/** Turns an error from the addon into an {@link ImzError} with the librsync code; others pass through. */
export function toDeltaError(err: unknown): unknown {
  if (err instanceof ImzError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !code.startsWith("RS_")) return err;
  const known = (RS_CODES.has(code) ? code : "RS_INTERNAL_ERROR") as ErrorCode;
  const message = err instanceof Error ? err.message : String(err);
  return new ImzError(known, `librsync: ${message}`, { hint: HINTS[known] ?? "", cause: err });
}
