/**
 * The watcher filter, for trees FUSE cannot filter: inotify names what changed (one watch per
 * directory, each placed before its directory is read: `tree-watch.ts`), and the scanner journals
 * exactly that — the directories the events named, each compared alone with the Fsdb (a stat per
 * entry, a hash only where size or mtime moved; renames recognised by inode across the directories
 * of one batch) — rather than rescanning the tree. The records are the same the FUSE filter writes.
 * A batch is journaled after a short quiet period (default 15 ms, coalescing bursts); a directory
 * that appears is compared once its watch is in place. The whole tree is scanned at the start, once
 * every directory is watched (what changed before its watch), after a watch error (a directory left
 * unwatched), and once each time the tree goes quiet after changes (the *settle scan*,
 * {@link WatchOptions.settleMs}) for what no event names: an edit through a hard link from outside
 * the tree, events lost to an overflowed inotify queue (libuv drops the overflow notice, so no error
 * says so). That scan waits at least ten times the last whole scan's duration since it, so it costs
 * at most a tenth of the watcher's time. Before it, the tree watch walks the tree again and watches
 * any directory it finds unwatched: one whose creation event the overflowed queue lost would
 * otherwise stay unwatched for good, its content journaled by that scan and nothing after.
 *
 * Limits (docs/DESIGN.md "Watcher"): inotify needs one watch per directory
 * (`fs.inotify.max_user_watches`); a directory it refuses is reported, and changes in it are seen by
 * whole scans only.
 */
import { isImzError } from "../errors.js";
import { META_DIR, type FileSet } from "../journal/fileset.js";
import { withWriteLock } from "../journal/write-lock.js";
import type { ScanReport } from "./scan-record.js";
import { scan } from "./scanner.js";
import { TreeWatch } from "./tree-watch.js";

/** Options of {@link watchFileSet}. */
export interface WatchOptions {
  /** Quiet time after the last event before a batch is journaled (default 15 ms). */
  debounceMs?: number;
  /** Called after every scan with what it journaled. */
  onScan?: (r: ScanReport) => void;
  /** Called with errors that did not stop the watcher (a failed scan, a watcher error). */
  onError?: (err: unknown) => void;
  /** The caller holds the file set's lock (a live sync): the watcher does not take it. */
  lockHeld?: boolean;
  /** Quiet time after changes before the settle scan of the whole tree (default 2000 ms; 0: none). */
  settleMs?: number;
}

/** A running watcher. */
export interface FileSetWatcher {
  /** Resolves once every change observed so far has been journaled. */
  idle(): Promise<void>;
  /** Stops watching, after the scan in progress. */
  close(): Promise<void>;
}

/**
 * Watches the file set's tree and journals its changes. Starts with a scan of the whole tree, then
 * journals what each quiet period's events named.
 */
export async function watchFileSet(set: FileSet, opts: WatchOptions = {}): Promise<FileSetWatcher> {
  const debounce = opts.debounceMs ?? 15;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let dirty = false;
  /** Directories the events named since the last scan; undefined: the whole tree. */
  let named: Set<string> | undefined = new Set();
  const settleMs = opts.settleMs ?? 2000;
  let settleTimer: NodeJS.Timeout | undefined;
  /** When the last whole scan ended, and how long it took. */
  let whole = { at: 0, ms: 0 };

  /** The next whole scan is a settle scan: the tree watch is walked again first. */
  let settling = false;
  /** The tree watch is being walked again (before a settle scan). */
  let recrawling = false;

  const runScan = async (): Promise<void> => {
    const dirs = named;
    const recrawl = settling && !dirs;
    named = new Set();
    dirty = false;
    settling = false;
    let release: (() => void) | undefined;
    try {
      const started = Date.now();
      // what no event named may be a directory no event will ever name: watched first, then compared
      if (recrawl) {
        recrawling = true;
        await tree.recrawl().finally(() => (recrawling = false));
        if (closed) return; // close() ended the walk: no scan after it
      }
      if (!opts.lockHeld) release = set.lock("watch");
      // a holder's scan is a write like a reintegration batch: one writer at a time
      const report = await withWriteLock(set, () => scan(set, dirs ? { dirs: [...dirs] } : {}));
      if (!dirs) whole = { at: Date.now(), ms: Date.now() - started };
      else settleLater();
      opts.onScan?.(report);
    } catch (err) {
      if (dirs) for (const d of dirs) named?.add(d);
      else named = undefined;
      if (isImzError(err, "LOCKED")) dirty = true; // a sync is running; journal after it
      else opts.onError?.(err);
    } finally {
      release?.();
    }
    if (dirty) schedule();
  };
  let closed = false;
  /** After a scan of named directories: the whole tree once it has been quiet for `settleMs`. */
  const settleLater = (): void => {
    if (settleMs <= 0 || closed) return;
    clearTimeout(settleTimer);
    const wait = Math.max(settleMs, whole.at + 10 * whole.ms - Date.now());
    settleTimer = setTimeout(() => {
      named = undefined;
      settling = true;
      schedule();
    }, wait).unref();
  };
  const schedule = (): void => {
    if (closed) return; // a scan ending after close() must not start another on a closed file set
    dirty = true;
    clearTimeout(settleTimer);
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(runScan);
    }, debounce);
  };
  /** An event named `dir`, or `dir` appeared and is watched now: its entries are compared next. */
  const name = (dir: string): void => {
    named?.add(dir);
    schedule();
  };
  const tree = new TreeWatch(set.root, (rel) => rel === META_DIR, {
    changed: name,
    watched: name,
    error: (err, again) => {
      if (!again) opts.onError?.(err);
      if (recrawling) return; // the settle scan after the recrawl is the whole scan
      named = undefined; // a directory may be unwatched: the whole tree next time
      schedule();
    },
  });
  // every directory watched before the whole scan: what changed before its watch is in the scan
  await tree.start();
  named = undefined;
  running = running.then(runScan);
  await running;

  return {
    idle: async () => {
      for (;;) {
        await tree.crawled();
        await running;
        if (!dirty && !tree.crawling) return;
        await new Promise((r) => setTimeout(r, debounce));
      }
    },
    close: async () => {
      closed = true;
      clearTimeout(timer);
      clearTimeout(settleTimer);
      tree.close();
      await running;
    },
  };
}
