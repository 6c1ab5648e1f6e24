/**
 * The watcher filter, for trees FUSE cannot filter: chokidar reports that something changed, and
 * the scanner journals what changed. Events are only hints (they coalesce, overflow, and name
 * paths, not identities), so each debounced batch runs the scanner, which compares the tree with
 * the Fsdb and recognises renames by inode; the records are the same the FUSE filter writes.
 *
 * Limits (docs/DESIGN.md "Watcher"): each batch costs a scan of the whole tree (a stat per object,
 * hashes only where size or mtime moved), so changes land in the journal a debounce plus a scan
 * after they happen; the sync therefore still scans a watched file set before shipping. inotify
 * needs one watch per directory (`fs.inotify.max_user_watches`); when chokidar reports an error
 * the next scan still catches everything, since the scanner does not depend on the events.
 */
import { watch, type FSWatcher } from "chokidar";
import path from "node:path";
import { isImzError } from "../errors.js";
import { META_DIR, type FileSet } from "../journal/fileset.js";
import { withWriteLock } from "../journal/write-lock.js";
import { scan, type ScanReport } from "./scanner.js";

/** Options of {@link watchFileSet}. */
export interface WatchOptions {
  /** Quiet time after the last event before a batch is scanned (default 200 ms). */
  debounceMs?: number;
  /** Called after every scan with what it journaled. */
  onScan?: (r: ScanReport) => void;
  /** Called with errors that did not stop the watcher (a failed scan, a watcher error). */
  onError?: (err: unknown) => void;
}

/** A running watcher. */
export interface FileSetWatcher {
  /** Resolves once every change observed so far has been scanned. */
  idle(): Promise<void>;
  /** Stops watching, after the scan in progress. */
  close(): Promise<void>;
}

/**
 * Watches the file set's tree and journals its changes. Starts with a scan (what changed while
 * nothing watched), then scans after each quiet period that followed events.
 */
export async function watchFileSet(set: FileSet, opts: WatchOptions = {}): Promise<FileSetWatcher> {
  const debounce = opts.debounceMs ?? 200;
  const meta = path.join(set.root, META_DIR);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let dirty = false;

  const runScan = async (): Promise<void> => {
    dirty = false;
    let release: (() => void) | undefined;
    try {
      release = set.lock("watch");
      // a holder's scan is a write like a reintegration batch: one writer at a time
      const report = await withWriteLock(set, () => scan(set));
      opts.onScan?.(report);
    } catch (err) {
      if (isImzError(err, "LOCKED")) dirty = true; // a sync is running; scan after it
      else opts.onError?.(err);
    } finally {
      release?.();
    }
    if (dirty) schedule();
  };
  const schedule = (): void => {
    dirty = true;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(runScan);
    }, debounce);
  };

  const watcher: FSWatcher = watch(set.root, {
    ignoreInitial: true,
    followSymlinks: false,
    ignored: (p: string) => p === meta || p.startsWith(meta + path.sep),
  });
  watcher.on("all", schedule);
  watcher.on("error", (err) => {
    opts.onError?.(err);
    schedule();
  });
  await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  running = runScan();
  await running;

  return {
    idle: async () => {
      for (;;) {
        await running;
        if (!dirty) return;
        await new Promise((r) => setTimeout(r, debounce));
      }
    },
    close: async () => {
      clearTimeout(timer);
      await watcher.close();
      await running;
    },
  };
}
