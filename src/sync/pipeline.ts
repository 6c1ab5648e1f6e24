/**
 * Ordered replay with content fetched ahead, a window at a time: the content of a window's records
 * is transferred first (a few transfers at once), then its records are applied strictly in order.
 * A window's temp files are all staged before its first record is applied, so one flush
 * (`Holding.makeDurable`, one `syncfs`) makes them all durable, rather than one flush per small
 * file: on a busy disk the flushes, not the copies, were most of a first copy's time. An item that
 * needed no transfer when it was launched (its directory is created by a record not applied yet,
 * say) is asked again when its turn comes, and if it needs one now, so are the next few (an item
 * that never needs one costs a few questions, not one per step). A staged temp file that no step
 * installed (its step failed, or an earlier failure ended the replay) is removed.
 *
 * While a window is applied, the next one's transfers already run (when the two windows' stated
 * content fits in {@link WINDOW_BYTES} together): the sender's reads and the staging of the next
 * window's files, on worker threads, overlap this window's flush and its applies on the event loop.
 * Durability is unchanged: each item still waits, before it is applied, for a flush begun after its
 * own temp file was complete.
 */
import fs from "node:fs";
import type { StagedContent } from "./content-stream.js";

/** Callbacks of {@link replayInOrder}. */
export interface ReplaySteps<T> {
  /** Starts fetching an item's content, or returns undefined when it needs none (as far as is known now). */
  prefetch(item: T): Promise<StagedContent> | undefined;
  /**
   * True for an item whose transfer joins a batch (`batch-transfer.ts`): it is not counted as one
   * of the `transfers` running at once (a batch is one request, whatever its number of items).
   */
  batched?(item: T): boolean;
  /** The content bytes an item states (0 when none): a window stages at most {@link WINDOW_BYTES} of them. */
  bytes?(item: T): number;
  /** Applies one item; `staged` is its prefetched content, if any. */
  step(item: T, staged: Promise<StagedContent> | undefined): Promise<void>;
}

/**
 * Items asked again together when one reached without content needs a transfer after all (at most
 * to the end of the window): the other new files of a directory just made, which can then share batches.
 */
const RETRY = 128;
/** How many times one item is asked at most as one of such a group. */
const ASKS = 3;

/**
 * Records per window at most. A replay's first window is {@link FIRST_WINDOW} records and each next
 * one twice the one before, up to this: nothing is applied until the first window is staged and
 * flushed, so a small one starts the applies early, and the larger ones after it are staged while
 * the one before is applied (a flush each: a reintegration batch of 2,900 small files is six).
 */
export const WINDOW = 1024;
/** Records in a replay's first window (see {@link WINDOW}). */
export const FIRST_WINDOW = 64;
/** Content bytes staged per window at most (besides its first item): the temp files a window holds on disk. */
export const WINDOW_BYTES = 64 * 1024 * 1024;

/**
 * Applies `items` in order, staging the content of a window of items (at most `window` of them,
 * growing from {@link FIRST_WINDOW}, and at most {@link WINDOW_BYTES} of stated content) before
 * applying them, with at most `transfers` transfers running at once.
 */
export async function replayInOrder<T>(items: readonly T[], steps: ReplaySteps<T>, window = WINDOW, transfers = 16): Promise<void> {
  const started: Array<Promise<StagedContent> | undefined> = [];
  const asked = new Uint8Array(items.length);
  const waiting: Array<() => void> = [];
  let running = 0;
  const launch = async (i: number): Promise<void> => {
    const metered = steps.batched?.(items[i]!) !== true;
    while (metered && running >= transfers) await new Promise<void>((resolve) => waiting.push(resolve));
    asked[i]!++;
    const p = steps.prefetch(items[i]!);
    started[i] = p;
    // handled from now on: a transfer of the next window may fail while this one is applied, long
    // before its own step awaits it (and says its error); unhandled, it would end the process
    p?.catch(() => undefined);
    if (!p || !metered) return;
    running++;
    p.catch(() => undefined).finally(() => {
      running--;
      waiting.shift()?.();
    });
  };
  // A step that installed the temp file renamed it away and said so (`consumed`): no system call.
  // Otherwise `rmSync` (its lstat and throw when the file is gone cost 4% of a first copy, and an
  // `access` through /proc/self/fd 3%).
  const dropTemp = (staged: Promise<StagedContent> | undefined): void => {
    staged?.then((s) => s.consumed !== true && fs.rmSync(s.temp, { force: true }), () => undefined);
  };
  const windows: Array<{ first: number; end: number; bytes: number }> = [];
  for (let first = 0, end = 0, size = Math.min(window, FIRST_WINDOW); first < items.length; first = end, size = Math.min(window, size * 2)) {
    let bytes = 0;
    for (; end < items.length && end - first < size; end++) {
      const b = steps.bytes?.(items[end]!) ?? 0;
      if (bytes + b > WINDOW_BYTES && end > first) break;
      bytes += b;
    }
    windows.push({ first, end, bytes });
  }
  const launchWindow = async (w: { first: number; end: number }): Promise<void> => {
    for (let i = w.first; i < w.end; i++) await launch(i);
  };
  /** The next window's launch, begun while the current one is applied. */
  let ahead: Promise<void> | undefined;
  try {
    for (const [k, w] of windows.entries()) {
      const { first, end } = w;
      await (ahead ?? launchWindow(w));
      ahead = undefined;
      await Promise.allSettled(started.slice(first, end));
      const next = windows[k + 1];
      if (next && w.bytes + next.bytes <= WINDOW_BYTES) {
        ahead = launchWindow(next);
        ahead.catch(() => undefined); // awaited at its turn, or before the clean-up
      }
      for (let i = first; i < end; i++) {
        if (started[i] === undefined) {
          // Asked again now that the items before it are applied; if it needs a transfer after all,
          // so may the next ones (the other new files of a directory just made): ask them too.
          await launch(i);
          if (started[i] !== undefined) {
            const last = Math.min(i + RETRY, end);
            for (let j = i + 1; j < last; j++) if (started[j] === undefined && asked[j]! < ASKS) await launch(j);
            await Promise.allSettled(started.slice(i, last));
          }
        }
        const staged = started[i];
        started[i] = undefined;
        try {
          await steps.step(items[i]!, staged);
        } finally {
          dropTemp(staged);
        }
      }
    }
  } finally {
    // what the next window's launch staged is removed too, before the replay returns
    await ahead?.catch(() => undefined);
    const pending = started.filter((p) => p !== undefined);
    started.forEach(dropTemp);
    await Promise.allSettled(pending);
  }
}
