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

/** Records per window: a reintegration batch (1,000 records) is then one or two flushes, not eight. */
export const WINDOW = 1024;
/** Content bytes staged per window at most (besides its first item): the temp files a window holds on disk. */
export const WINDOW_BYTES = 64 * 1024 * 1024;

/**
 * Applies `items` in order, staging the content of a window of items (`window` of them, and at most
 * {@link WINDOW_BYTES} of stated content) before applying them, with at most `transfers` transfers
 * running at once.
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
  try {
    for (let first = 0, end = 0; first < items.length; first = end) {
      for (let bytes = 0; end < items.length && end - first < window; end++) {
        bytes += steps.bytes?.(items[end]!) ?? 0;
        if (bytes > WINDOW_BYTES && end > first) break;
      }
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
