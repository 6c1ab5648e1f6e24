/**
 * Pages of records and objects bounded in bytes as well as in number: a record or Fsdb row may carry
 * up to 64 KiB of extended attributes (`journal/xattrs.ts`), so a page of a thousand of them would
 * exceed a frame header's 4 MiB (`ssh/codec.ts`). Pure.
 */

/** Bytes of JSON a page of records or objects may take (a quarter of a frame header). */
export const PAGE_BYTES = 1 << 20;

/** The longest prefix of `items` whose JSON stays within `max` bytes (at least one item). */
export function withinBytes<T>(items: readonly T[], max = PAGE_BYTES): T[] {
  let bytes = 0;
  let n = 0;
  for (const item of items) {
    bytes += Buffer.byteLength(JSON.stringify(item)) + 1;
    if (n > 0 && bytes > max) break;
    n++;
  }
  return items.slice(0, n);
}
