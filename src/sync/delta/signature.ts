/**
 * Signatures: computing one from a basis (file, stream or buffer) and loading one for deltas
 * (`rs_loadsig_begin` then `rs_build_hash_table`, both on a worker thread).
 */
import { fstat } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { promisify } from "node:util";
import { availableParallelism } from "node:os";
import { ImzError } from "../../errors.js";
import { loadSignatureJob, signatureJob, type NativeJob, type NativeSignature } from "./native.js";
import { collect, jobReadable, READ_CHUNK, readChunks, readReused, runJob, step, type ByteSource, type JobReadable, type OpenFile } from "./job.js";
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
 * The signature of a file (a path, or an open file, read at explicit offsets and left open) as
 * bytes — the bytes {@link signatureFile} streams — computed by up to `parts` jobs at once
 * (default: one per core, at most 4) on consecutive block-aligned ranges. Each block's sums depend
 * only on that block, so the parts' sums after the first part's header are the whole file's
 * signature; on an otherwise idle machine two cores halve the wait.
 */
export async function signatureOfFile(file: string | OpenFile, options: SignatureOptions = {}, parts = Math.min(4, availableParallelism())): Promise<Buffer> {
  const handle = typeof file === "string" ? await open(file, "r") : file;
  try {
    const { size } = typeof handle === "number" ? await promisify(fstat)(handle) : await handle.stat();
    const args = resolveSignatureOptions(size, options);
    const split = parts >= 2 && size >= SPLIT_MIN && args.blockLength > 0 && args.strongLength > 0;
    const count = split ? parts : 1;
    const per = split ? Math.ceil(size / parts / args.blockLength) * args.blockLength : size;
    const signPart = (i: number): Promise<Buffer> => {
      const job = signatureJob(args.magic, args.blockLength, args.strongLength, size);
      const range = { start: i * per, end: i === count - 1 ? Infinity : (i + 1) * per };
      return collect(runJob(job, readChunks(handle, READ_CHUNK, range)));
    };
    // every part settles before the file may be closed
    const settled = await Promise.allSettled(Array.from({ length: count }, (_, i) => signPart(i)));
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    const outputs = settled.map((r) => (r as PromiseFulfilledResult<Buffer>).value);
    const header = outputs[0]!.subarray(0, HEADER_BYTES);
    if (outputs.some((o) => !o.subarray(0, HEADER_BYTES).equals(header))) {
      throw new ImzError("RS_INTERNAL_ERROR", "signature parts disagree on their header", { hint: "a librsync or addon bug; report it" });
    }
    return Buffer.concat([outputs[0]!, ...outputs.slice(1).map((o) => o.subarray(HEADER_BYTES))]);
  } finally {
    if (typeof file === "string") await (handle as FileHandle).close();
  }
}

/** Chunks a {@link SignatureBuilder} may fall behind the stream it signs. */
const SIGN_BACKLOG = 16;

/**
 * A signature built from content passing anyway — bytes being patched or written — by one job on a
 * worker thread: the bytes {@link signatureStream} gives for that content with the same arguments.
 * {@link SignatureBuilder.through} passes the content on unchanged, feeding the chunks to the job in
 * order behind the consumer (one chunk in the job at a time, up to {@link SIGN_BACKLOG} waiting: a
 * job slower than the stream slows it only past that bound, and memory stays bounded);
 * {@link SignatureBuilder.signature} settles when the stream ends.
 */
export class SignatureBuilder {
  private readonly job: NativeJob;
  private readonly output: Buffer[] = [];
  private settle!: (signature: Buffer | undefined) => void;
  /** The signature of everything passed through; undefined if the stream failed or was abandoned. */
  readonly signature = new Promise<Buffer | undefined>((resolve) => (this.settle = resolve));

  /** A builder with resolved arguments (see `resolveSignatureOptions`). */
  constructor(args: SignatureArgs) {
    this.job = signatureJob(args.magic, args.blockLength, args.strongLength, -1);
  }

  /**
   * Yields `chunks` as they are, signing them on the way: the job follows behind, up to
   * {@link SIGN_BACKLOG} chunks, so the stream runs at its own pace rather than the job's. Each
   * chunk must stay unchanged until {@link SignatureBuilder.signature} settles (the callers' chunks
   * are fresh buffers, never reused). Used once.
   */
  async *through(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
    // A failed step only loses the signature, never the content: `broken` stops the feeding.
    let broken = false;
    let tail: Promise<void> = Promise.resolve();
    const queued: Array<Promise<void>> = [];
    let ended = false;
    try {
      for await (const chunk of chunks) {
        if (!broken) {
          tail = tail.then(() => (broken ? undefined : this.update(chunk))).catch(() => void (broken = true));
          queued.push(tail);
        }
        while (queued.length > SIGN_BACKLOG) await queued.shift();
        yield chunk;
      }
      await tail;
      ended = !broken;
    } finally {
      await tail; // a busy job cannot be freed
      if (ended) {
        this.settle(await this.end().catch(() => undefined));
      } else {
        this.close();
        this.settle(undefined);
      }
    }
  }

  /** Frees the job of an abandoned signature (no step may be in flight). */
  close(): void {
    this.job.close();
  }

  /**
   * Feeds the next bytes to the job (used by `through`, or directly by a caller that does not
   * stream: one call at a time, `chunk` unchanged until it resolves).
   */
  async update(chunk: Uint8Array): Promise<void> {
    for (let rest = chunk; rest.length > 0; ) {
      const r = await step(this.job, rest, false);
      if (r.output.length > 0) this.output.push(r.output);
      rest = rest.subarray(r.consumed);
      if (r.done) return;
    }
  }

  /** Ends the input; the signature's bytes (direct use; `through` settles {@link SignatureBuilder.signature} itself). */
  async end(): Promise<Buffer> {
    for (;;) {
      const r = await step(this.job, EMPTY, true);
      if (r.output.length > 0) this.output.push(r.output);
      if (r.done) return Buffer.concat(this.output);
    }
  }
}

const EMPTY = Buffer.alloc(0);

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
