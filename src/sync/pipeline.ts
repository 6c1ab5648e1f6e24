/**
 * Ordered replay with content fetched ahead: records are applied strictly in order, while the
 * content of the next few records that need it is already being transferred, so small files do not
 * each wait a round trip. A staged temp file that its step did not install is removed.
 */
import fs from "node:fs";
import type { StagedContent } from "./apply.js";

/** Callbacks of {@link replayInOrder}. */
export interface ReplaySteps<T> {
  /** Starts fetching an item's content, or returns undefined when it needs none (as far as is known now). */
  prefetch(item: T): Promise<StagedContent> | undefined;
  /** Applies one item; `staged` is its prefetched content, if any. */
  step(item: T, staged: Promise<StagedContent> | undefined): Promise<void>;
}

/** Applies `items` in order with up to `window` content transfers in flight. */
export async function replayInOrder<T>(items: readonly T[], steps: ReplaySteps<T>, window = 16): Promise<void> {
  const started: Array<Promise<StagedContent> | undefined> = [];
  let launched = 0;
  let inFlight = 0;
  for (let i = 0; i < items.length; i++) {
    while (launched < items.length && (inFlight < window || launched <= i)) {
      const p = steps.prefetch(items[launched]!);
      if (p) {
        p.catch(() => undefined);
        inFlight++;
      }
      started[launched++] = p;
    }
    const staged = started[i];
    started[i] = undefined;
    try {
      await steps.step(items[i]!, staged);
    } finally {
      if (staged) {
        inFlight--;
        staged.then((s) => fs.rmSync(s.temp, { force: true }), () => undefined);
      }
    }
  }
}
