/**
 * A live holder journals its own tree as it changes, so that update notification can push a change
 * made on the holder's host the moment it is made: while any replica is attached live, one watcher
 * per holding location in this process journals what inotify names (`src/filter/watcher.ts`) and
 * rings the log bell. Not started when a filter (the Presto mount) already journals the tree.
 * Watchers in two processes are redundant but safe: each scan takes the write lock, and a scan
 * after another finds nothing new.
 */
import { ringLog } from "../journal/log-bell.js";
import { FileSet } from "../journal/fileset.js";
import { watchFileSet, type FileSetWatcher } from "../filter/watcher.js";

interface Live {
  users: number;
  started: Promise<{ set: FileSet; watcher?: FileSetWatcher }>;
}

const live = new Map<string, Live>();

/** True while this process journals the holding location at `root` live. */
export function isWatchedLive(root: string): boolean {
  return live.has(root);
}

/**
 * Resolves once this process's live journaling of `root` runs (its watcher ready, its first scan
 * done), at once when there is none. A replica is told it is live only then: a change made on the
 * holder's host the moment after is seen (before, it could fall into the watcher's start-up, before
 * its watches and first scan).
 */
export async function whenWatched(root: string): Promise<void> {
  await live.get(root)?.started.catch(() => undefined);
}

/**
 * Starts journaling the holder's tree at `root` live (or joins the watcher already running) and
 * returns the function that leaves it; the last one out stops it.
 */
export function watchHolderTree(root: string, onError: (err: unknown) => void): () => Promise<void> {
  let entry = live.get(root);
  if (!entry) {
    const started = (async () => {
      const set = FileSet.open(root);
      if (set.isContinuouslyFiltered()) return { set };
      const watcher = await watchFileSet(set, {
        lockHeld: true,
        onError,
        onScan: (r) => {
          if (r.records > 0) ringLog(root, set.log.head());
        },
      });
      return { set, watcher };
    })();
    started.catch(onError);
    live.set(root, (entry = { users: 0, started }));
  }
  entry.users++;
  const mine = entry;
  let left = false;
  return async () => {
    if (left) return;
    left = true;
    if (--mine.users > 0) return;
    live.delete(root);
    const { set, watcher } = await mine.started.catch(() => ({ set: undefined, watcher: undefined }));
    await watcher?.close();
    set?.close();
  };
}
