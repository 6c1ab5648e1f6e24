/**
 * Whole-file content hash: BLAKE2b-512 truncated to 256 bits, hex (through the project's addon and
 * Node's own OpenSSL, `native/blake2b.h`). Equal hashes mean equal content; every patched or copied file is checked against it
 * before it replaces anything.
 */
import fs from "node:fs";
import { ImzError } from "../errors.js";
import { blake2b, blake2bStream, hashFd, type NativeBlake2b, type NativeBlake2bStream } from "../sync/delta/native.js";

/** Length in hex characters of a content hash. */
export const HASH_HEX_LENGTH = 64;

/** The content hash of no bytes (a constant, so importing this module loads no native code). */
export const EMPTY_HASH = "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419";

/** An incremental content hash: feed it bytes, then {@link digestHex} once. */
export type ContentHasher = NativeBlake2b;

/** A fresh hasher; feed it bytes and call {@link digestHex}. */
export function newContentHasher(): ContentHasher {
  return blake2b();
}

function hex(digest: Buffer): string {
  return digest.toString("hex", 0, HASH_HEX_LENGTH / 2);
}

/** The content hash of what a hasher from {@link newContentHasher} was fed. */
export function digestHex(h: ContentHasher): string {
  return hex(h.digest());
}

/** Updates a {@link BackgroundHasher} lets queue before `update` makes its caller wait. */
const BACKLOG = 8;
/** A {@link BackgroundHasher} hashes its first bytes on the calling thread: a small file is not worth a thread trip. */
const HASH_HERE = 1 << 20;

/**
 * A content hash computed off the event loop: chunks are hashed in order on worker threads while
 * the caller goes on (a receiver writing what it hashes); the first {@link HASH_HERE} bytes at
 * once. Each chunk stays referenced until it is hashed; `update` returns a promise only when
 * {@link BACKLOG} chunks are waiting (the caller should wait for it).
 */
export class BackgroundHasher {
  private readonly native: NativeBlake2bStream = blake2bStream();
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;
  private here = 0;

  /** Queues `chunk`; a promise when the caller should wait before the next. */
  update(chunk: Uint8Array): Promise<void> | undefined {
    if (this.waiting === 0 && this.here + chunk.length <= HASH_HERE) {
      this.here += chunk.length;
      this.native.updateNow(chunk);
      return undefined;
    }
    this.here = HASH_HERE;
    this.waiting++;
    const done = this.tail.then(() => this.native.update(chunk)).finally(() => this.waiting--);
    this.tail = done;
    done.catch(() => undefined); // surfaces in digestHex
    return this.waiting > BACKLOG ? done : undefined;
  }

  /** The content hash of every chunk queued. */
  async digestHex(): Promise<string> {
    await this.tail;
    return hex(this.native.digest());
  }
}

/** Content hash of a buffer. */
export function hashBuffer(buf: Uint8Array): string {
  return digestHex(newContentHasher().update(buf));
}

/** Files up to this size are hashed with one synchronous read (cheaper than a thread-pool round trip). */
export const SMALL_FILE = 64 * 1024;
/**
 * The buffer small files are read into (reads are synchronous, so one is enough): a fresh 64 KiB
 * buffer per file cost a page fault or more in every `read` — a third of a first copy's scan.
 */
let smallBuf: Buffer | undefined;

/** Content hash of a file: read and hashed on a worker thread (constant memory), small files at once. */
export async function hashFile(file: fs.PathLike): Promise<string> {
  const fd = fs.openSync(file, "r");
  try {
    return (await hashOpen(fd, file)).hash;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The content hash of `file`, checked to be of the bytes a stat taken before described: hashed
 * through one descriptor whose size and mtime, read after the hash, must still be `stated`'s, and
 * as many bytes read as that size. A file written between the stat and the hash — within one
 * timestamp tick only its size tells — would otherwise be journaled with another content's hash
 * than its size says, and a row that matches neither the file nor its content. Throws `IO`
 * ("changed while it was being hashed"): the write's own event, or the next scan, journals it.
 */
export async function hashFileAsStated(file: fs.PathLike, stated: { size: bigint; mtimeNs: bigint }): Promise<string> {
  const fd = fs.openSync(file, "r");
  try {
    const { hash, bytes } = await hashOpen(fd, file);
    const after = fs.fstatSync(fd, { bigint: true });
    if (BigInt(bytes) !== stated.size || after.size !== stated.size || after.mtimeNs !== stated.mtimeNs) {
      throw new ImzError("IO", `${file.toString()}: changed while it was being hashed`, { hint: "journaled by the next scan" });
    }
    return hash;
  } finally {
    fs.closeSync(fd);
  }
}

/** Hash and length of the file open at `fd`, read from its current offset (0 when just opened). */
async function hashOpen(fd: number, file: fs.PathLike): Promise<{ hash: string; bytes: number }> {
  if (fs.fstatSync(fd).size < SMALL_FILE) {
    const h = newContentHasher();
    const buf = (smallBuf ??= Buffer.allocUnsafe(SMALL_FILE));
    let bytes = 0;
    for (let n; (n = fs.readSync(fd, buf, 0, SMALL_FILE, null)) > 0; bytes += n) h.update(buf.subarray(0, n));
    return { hash: digestHex(h), bytes };
  }
  const { digest, bytes } = await hashFd(fd, file.toString());
  return { hash: hex(digest), bytes };
}

/** Content hash and length of the whole file open at `fd` (from offset 0, pread on a worker thread; `file` names it in errors). */
export async function hashOpenFile(fd: number, file: string): Promise<{ hash: string; bytes: number }> {
  const { digest, bytes } = await hashFd(fd, file);
  return { hash: hex(digest), bytes };
}
