/**
 * Written extents: the byte ranges of a file written since a version it was based on (issue 13,
 * item 4). The filter notes each write and truncation of a file in a {@link WrittenRanges}; its
 * `close` record carries them as `[offset, length]` pairs of the new content
 * ({@link WrittenRanges.forSize}), so that a receiver holding the base version needs exactly those
 * bytes — no signature, no delta search. Pure: no I/O.
 */

/** Most ranges a close record carries; a file written in more places has unknown extents (the delta moves it). */
export const MAX_EXTENTS = 256;

/** `[offset, length]` of a range of a file's new content, length ≥ 1. */
export type Extent = [number, number];

/**
 * A set of changed byte ranges of one file, kept sorted and coalesced (touching ranges merge),
 * plus a *tail*: every byte from the tail on is changed — the file's size at the base (bytes past it
 * are new) lowered by each truncation (bytes cut and later written again, or left as a hole, are new).
 * Past {@link MAX_EXTENTS} ranges it is *overflowed*: unknown.
 */
export class WrittenRanges {
  private starts: number[] = [];
  private ends: number[] = [];
  private overflowed = false;

  /** `tail`: the file's size at the base version (default: none known yet, see {@link WrittenRanges.cut}). */
  constructor(private tail = Infinity) {}

  /** Notes bytes `[start, end)` written. */
  add(start: number, end: number): void {
    const e = Math.min(end, this.tail);
    if (this.overflowed || e <= start) return;
    const n = this.starts.length;
    // the usual cases first: past the last range, or extending it (an appended log, a sequential write)
    if (n === 0 || start > this.ends[n - 1]!) {
      this.starts.push(start);
      this.ends.push(e);
      if (n + 1 > MAX_EXTENTS) this.overflow();
      return;
    }
    if (start >= this.starts[n - 1]!) {
      this.ends[n - 1] = Math.max(this.ends[n - 1]!, e);
      return;
    }
    // first range ending at or after `start`, first range starting after `e`: merge everything between
    const i = firstAtLeast(this.ends, start);
    const j = firstAtLeast(this.starts, e + 1);
    const s = Math.min(start, this.starts[i] ?? start);
    const t = Math.max(e, j > i ? this.ends[j - 1]! : e);
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, t);
    if (this.starts.length > MAX_EXTENTS) this.overflow();
  }

  /** Notes a truncation (or any size change) to `size`: every byte from `size` on is changed. */
  cut(size: number): void {
    if (size >= this.tail) return;
    this.tail = size;
    const k = firstAtLeast(this.ends, size + 1); // ranges wholly below the tail keep; the one across is clipped
    this.starts.length = Math.min(this.starts.length, k + 1);
    this.ends.length = this.starts.length;
    const last = this.starts.length - 1;
    if (last >= 0 && this.starts[last]! >= size) {
      this.starts.pop();
      this.ends.pop();
    } else if (last >= 0) this.ends[last] = Math.min(this.ends[last]!, size);
  }

  /** Adds every range and the tail of `other`. */
  unite(other: WrittenRanges): void {
    if (other.overflowed) this.overflow();
    this.cut(other.tail);
    for (let i = 0; i < other.starts.length; i++) this.add(other.starts[i]!, other.ends[i]!);
  }

  /** A copy. */
  copy(): WrittenRanges {
    const c = new WrittenRanges(this.tail);
    c.starts = [...this.starts];
    c.ends = [...this.ends];
    c.overflowed = this.overflowed;
    return c;
  }

  /** Gives up: the ranges are unknown from now on. */
  overflow(): void {
    this.overflowed = true;
    this.starts = [];
    this.ends = [];
  }

  /**
   * The changed ranges of the content as it is at `size` bytes (the tail included), as
   * `[offset, length]` pairs; undefined when unknown (overflowed, or more than {@link MAX_EXTENTS}).
   */
  forSize(size: number): Extent[] | undefined {
    if (this.overflowed || this.tail === Infinity) return undefined;
    const out: Extent[] = [];
    for (let i = 0; i < this.starts.length && this.starts[i]! < size; i++) out.push([this.starts[i]!, Math.min(this.ends[i]!, size) - this.starts[i]!]);
    if (this.tail < size) {
      const last = out.at(-1);
      if (last && last[0] + last[1] === this.tail) last[1] = size - last[0];
      else out.push([this.tail, size - this.tail]);
    }
    return out.length > MAX_EXTENTS ? undefined : out;
  }
}

/** Index of the first element of sorted `xs` that is ≥ `v` (`xs.length` when none). */
function firstAtLeast(xs: number[], v: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Whether `ranges` (from a record: untrusted) can turn a base of `baseSize` bytes into content of
 * `size` bytes: sorted, apart, each inside `[0, size)`, and covering every byte past the base.
 */
export function extentsFit(ranges: readonly Extent[], baseSize: number, size: number): boolean {
  let at = 0;
  for (const [off, len] of ranges) {
    if (off < at || len < 1 || off + len > size) return false;
    at = off + len;
  }
  return size <= baseSize || covers(ranges, baseSize, size);
}

/** Whether sorted, apart `ranges` cover every byte of `[from, to)`. */
function covers(ranges: readonly Extent[], from: number, to: number): boolean {
  let at = from;
  for (const [off, len] of ranges) {
    if (off + len <= at) continue;
    if (off > at) return false;
    at = off + len;
  }
  return at >= to;
}

/** Total bytes of `ranges`. */
export function extentBytes(ranges: readonly Extent[]): number {
  return ranges.reduce((n, [, len]) => n + len, 0);
}
