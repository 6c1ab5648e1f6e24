/**
 * Releasing a basis's cached pages as a patch consumes them (issue 13, seventh round). A patch
 * written into a new file takes as much fresh page cache as the new version's size, while the
 * basis it reads — the version the new one replaces — keeps its own pages until the rename frees
 * them. On a virtual machine that hands free memory back to its host (this one does), memory
 * taken afresh is slow to fill: writing 256 MiB into a new file cost 0.44–0.57 s of system time
 * with 256 MiB of another file cached, and 0.04–0.05 s after that file's pages were dropped. So
 * the basis's pages are released (`releaseCache`: clean pages only; nothing is lost) once the
 * output has passed the COPY commands that read them, and the new version's pages are those.
 * Only a cache hint: a later COPY of the same basis bytes reads them from the disk again, and a
 * sync that fails leaves the old version uncached, not changed.
 */
import { releaseCache } from "./delta/native.js";
import { DeltaCommands } from "./delta/resign.js";

/** Basis bytes released at a time (a `posix_fadvise` call each), and the least a finished COPY is released for. */
const RELEASE_STEP = 8 << 20;
const RELEASE_MIN = 1 << 20;

/** Follows a delta's COPY commands and releases the basis pages they read once the patch's output has passed them. */
export class BasisRelease {
  private readonly commands = new DeltaCommands();
  private broken = false;
  /** The first COPY not yet wholly passed. */
  private next = 0;
  /** Output offset up to which that COPY's basis bytes have been released. */
  private releasedTo = 0;

  /**
   * @param basis the basis's open file descriptor
   * @param from output offset from which on COPYs are released (the basis bytes of the output
   *   before it are someone else's to release: a rebuild still reading them)
   */
  constructor(
    private readonly basis: number,
    private from = 0,
  ) {}

  /** Passes the delta on (to the patch), following its commands. */
  async *delta(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
    for await (const chunk of chunks) {
      if (!this.broken) {
        try {
          this.commands.feed(chunk);
        } catch {
          this.broken = true; // the patch reports a damaged delta
        }
      }
      yield chunk;
    }
  }

  /** Releases from output offset `from` on (the output before it is another's; see the constructor). */
  startAt(from: number): void {
    this.from = from;
  }

  /** The patch's output has passed offset `to`: releases what the COPYs before it read. */
  passed(to: number): void {
    const copies = this.commands.copies;
    for (; this.next < copies.length; this.next++) {
      const c = copies[this.next]!;
      const end = c.offset + c.length;
      const start = Math.max(c.offset, this.from, this.releasedTo);
      const upTo = Math.min(end, to);
      if (upTo - start >= RELEASE_STEP || (upTo === end && upTo - start >= RELEASE_MIN)) {
        try {
          releaseCache(this.basis, c.basisOffset + (start - c.offset), upTo - start);
        } catch {
          // a hint: a descriptor that refuses it changes nothing
        }
        this.releasedTo = upTo;
      }
      if (end > to) return;
    }
  }
}
