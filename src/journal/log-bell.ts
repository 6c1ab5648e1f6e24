/**
 * The log bell: tells listeners that a file set's server log has grown, so a live holder can push
 * update notifications the moment a record is accepted. Writers in this process ring it after they
 * commit (a reintegration batch, a holder scan); records appended by another process (a filter, a
 * sync whose holder runs in-process there) are found by polling the log's head while anyone
 * listens. A listener gets the newest volume stamp, coalesced: never a queue of them.
 */
import type { FileSet } from "./fileset.js";

/** How often a listener looks at the log's head for other processes' appends. */
export const POLL_MS = 20;

type Ringer = (volume: number) => void;
const listeners = new Map<string, Set<Ringer>>();

/** Rings the bell of the file set at `root`: its log now ends at `volume`. */
export function ringLog(root: string, volume: number): void {
  for (const fn of listeners.get(root) ?? []) fn(volume);
}

/**
 * Calls `fn` with the log's new head whenever it grows past the head seen at the call. Returns the
 * function that stops listening.
 */
export function listenLog(set: FileSet, fn: (volume: number) => void): () => void {
  let seen = set.log.head();
  const hear = (volume: number): void => {
    if (volume <= seen) return;
    seen = volume;
    fn(volume);
  };
  let ring = listeners.get(set.root);
  if (!ring) listeners.set(set.root, (ring = new Set()));
  ring.add(hear);
  const poll = setInterval(() => {
    try {
      if (set.db.open) hear(set.log.head());
    } catch {
      // a busy or closing database: the next poll or ring will tell
    }
  }, POLL_MS);
  poll.unref();
  return () => {
    clearInterval(poll);
    ring.delete(hear);
    if (ring.size === 0) listeners.delete(set.root);
  };
}
