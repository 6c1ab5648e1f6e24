/**
 * The receiver's check of a patched version against the sender's own file, when both sides are in
 * one process (a sync between two local trees; issue 13, fifth round). A patch is checked because
 * the delta's block matches rest on short sums: the receiver hashes its output and compares the
 * hash with the sender's (BLAKE2b, ≈ 0.25 s of CPU per 256 MiB). In process the sender's file is
 * right here, so the output is compared with its bytes instead — a page-cache read and a `memcmp`,
 * an exact check where the hash is a probabilistic one. The description's hash was made from that
 * file (the Fsdb's, vouched for by its status, or computed over it while the delta was made), and
 * the file is the same one — device, inode, size, mtime, ctime — when the sender described it, when
 * the comparison opens it and when it ends, so the output's hash is the description's. A stream
 * rebuilt from a wire never carries a source: over SSH the receiver hashes as before.
 */
import type fs from "node:fs";
import type { FileHandle } from "node:fs/promises";

/** Chunks queued before {@link SourceCompare.update} asks its caller to wait. */
const BACKLOG = 4;

/** The file a sender read, offered to a receiver in the same process (see `ContentStream.source`). */
export interface SourceFile {
  /** Opens it (read-only, beneath the sender's root). */
  open(): Promise<FileHandle>;
  /** Its status when the sender's description was made; settled by the time the description is. */
  status: Promise<fs.BigIntStats>;
}

/** Compares the chunks of an output, in order, with the bytes of a {@link SourceFile}. */
export class SourceCompare {
  private handle: Promise<FileHandle> | undefined;
  private opened: fs.BigIntStats | undefined;
  private equal = true;
  private at = 0;
  private old = Buffer.alloc(0);
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly source: SourceFile) {}

  /**
   * Queues the next output bytes (compared one chunk at a time, in order; `chunk` must stay
   * unchanged until then); a promise when the caller should wait before the next.
   */
  update(chunk: Buffer): Promise<void> | undefined {
    this.waiting++;
    this.tail = this.tail
      .then(() => this.compare(chunk))
      .catch(() => void (this.equal = false))
      .finally(() => this.waiting--);
    return this.waiting > BACKLOG ? this.tail : undefined;
  }

  private async compare(chunk: Buffer): Promise<void> {
    if (!this.equal) return;
    const fh = await this.open();
    if (this.old.length < chunk.length) this.old = Buffer.allocUnsafe(chunk.length);
    let got = 0;
    while (got < chunk.length) {
      const { bytesRead } = await fh.read(this.old, got, chunk.length - got, this.at + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got !== chunk.length || chunk.compare(this.old, 0, got) !== 0) this.equal = false;
    this.at += chunk.length;
  }

  private open(): Promise<FileHandle> {
    this.handle ??= this.source.open().then(async (fh) => {
      this.opened = await fh.stat({ bigint: true });
      return fh;
    });
    return this.handle;
  }

  /**
   * Whether every byte queued matched, the source ends there, and it was the file the sender
   * described throughout. Closes the source; call once, after the description has settled.
   */
  async same(): Promise<boolean> {
    await this.tail;
    try {
      const fh = await this.open();
      const end = await fh.stat({ bigint: true });
      const described = await this.source.status;
      return this.equal && Number(end.size) === this.at && unchanged(described, this.opened!) && unchanged(described, end);
    } catch {
      return false;
    } finally {
      await this.close();
    }
  }

  /** Closes the source (a comparison abandoned, or done). */
  async close(): Promise<void> {
    await this.tail;
    const fh = await this.handle?.catch(() => undefined);
    this.handle = Promise.reject(new Error("closed"));
    this.handle.catch(() => undefined);
    await fh?.close().catch(() => undefined);
  }
}

function unchanged(a: fs.BigIntStats, b: fs.BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}
