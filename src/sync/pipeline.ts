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
 */
import fs from "node:fs";
import type { StagedContent } from "./apply.js";

/** Callbacks of {@link replayInOrder}. */
export interface ReplaySteps<T> {
  /** Starts fetching an item's content, or returns undefined when it needs none (as far as is known now). */
  prefetch(item: T): Promise<StagedContent> | undefined;
  /**
   * True for an item whose transfer joins a batch (`batch-transfer.ts`): it is not counted as one
   * of the `transfers` running at once (a batch is one request, whatever its number of items).
   */
  batched?(item: T): boolean;
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
 * Applies `items` in order, staging the content of `window` items before applying them, with at
 * most `transfers` transfers running at once.
 */
export async function replayInOrder<T>(items: readonly T[], steps: ReplaySteps<T>, window = 128, transfers = 16): Promise<void> {
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
    if (!p || !metered) return;
    running++;
    p.catch(() => undefined).finally(() => {
      running--;
      waiting.shift()?.();
    });
  };
  // A step that installed the temp file renamed it away: one `access`, not `rmSync`'s lstat and throw
  // (which cost 4% of a first copy of small files).
  const dropTemp = (staged: Promise<StagedContent> | undefined): void => {
    staged?.then((s) => fs.existsSync(s.temp) && fs.rmSync(s.temp, { force: true }), () => undefined);
  };
  try {
    for (let first = 0; first < items.length; first += window) {
      const end = Math.min(first + window, items.length);
      for (let i = first; i < end; i++) await launch(i);
      await Promise.allSettled(started.slice(first, end));
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
    started.forEach(dropTemp);
  }
}
