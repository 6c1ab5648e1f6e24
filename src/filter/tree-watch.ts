/**
 * The tree watch under the watcher filter: one inotify watch (`fs.watch`) per directory of the
 * tree, each placed *before* its directory is read — the order watchman and Syncthing use. An entry
 * made in a directory before its watch was placed is found by the read after it; one made after
 * raises an event. So no directory can appear unwatched, however fast the tree changes while the
 * watch starts or grows (chokidar 4, used before, read each directory first and watched it after:
 * a directory made in between was never watched, and nothing written into it was ever named).
 *
 * A directory that appears after the start is reported through {@link TreeWatchEvents.watched}
 * once its watch is in place, so that its entries are compared by a scan that starts after the
 * watch — anything written into it before is in that scan, anything after raises an event.
 */
import fs from "node:fs";
import path from "node:path";
import { ImzError } from "../errors.js";

/** What a {@link TreeWatch} reports (directories relative to the root, `""` the root). */
export interface TreeWatchEvents {
  /** Something changed in directory `dir`. */
  changed(dir: string): void;
  /** Directory `dir` appeared after the start and is now watched: its entries need comparing. */
  watched(dir: string): void;
  /**
   * A directory could not be watched or read; `again`: an inotify limit already reported (each
   * directory past the limit fails alike: one line says so, not thousands), or a failure a
   * {@link TreeWatch.recrawl} met (not said again at every recrawl).
   */
  error(err: unknown, again: boolean): void;
}

/** Calls (lstat, readdir) in flight at once while a crawl walks down, on the thread pool. */
const READS_AT_ONCE = 8;

/** One inotify watch per directory of a tree, each placed before its directory is read. */
export class TreeWatch {
  /** Each watched directory's watch and the inode it was placed on. */
  private readonly watches = new Map<string, { w: fs.FSWatcher; ino: number }>();
  /** Directories watched, waiting to be read for their subdirectories (`again`: by {@link recrawl}). */
  private readonly toRead: Array<{ rel: string; report: boolean; again: boolean }> = [];
  /** lstat and readdir calls in flight. */
  private inFlight = 0;
  /** Work left (calls in flight, reads queued) of the start-up crawl and of all crawls. */
  private readonly left = { start: 0, all: 0 };
  private waiters: Array<{ start: boolean; resolve: () => void }> = [];
  private closed = false;
  /** An inotify limit was reported. */
  private limitSaid = false;

  /**
   * @param root the tree's root
   * @param skip true for a relative path not to watch (the file set's metadata directory)
   */
  constructor(
    private readonly root: string,
    private readonly skip: (rel: string) => boolean,
    private readonly on: TreeWatchEvents,
  ) {}

  /**
   * Watches the whole tree; resolves once every directory its crawl found is watched (directories
   * that appear meanwhile are watched as they are reported, not waited for: a tree that never stops
   * growing would never let the start end).
   */
  async start(): Promise<void> {
    this.add("", false);
    if (this.left.start > 0) await new Promise<void>((resolve) => this.waiters.push({ start: true, resolve }));
  }

  /**
   * Walks the whole tree again and watches each directory found unwatched (or watched on another
   * inode), reporting it through {@link TreeWatchEvents.watched}. A directory whose creation event
   * was lost — an overflowed inotify queue drops events, and libuv says nothing of it — was never
   * watched: whole scans journaled it, but nothing written into it later raised an event. Failures
   * here are reported as already said (`again`): what cannot be watched is left to whole scans, as
   * before. Resolves once the walk is done.
   */
  recrawl(): Promise<void> {
    this.add("", true, true);
    return this.crawled();
  }

  /** Resolves once every directory found so far is watched and read. */
  crawled(): Promise<void> {
    if (!this.crawling) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ start: false, resolve }));
  }

  /** True while directories found are still being watched and read. */
  get crawling(): boolean {
    return this.left.all > 0;
  }

  /** Removes every watch. */
  close(): void {
    this.closed = true;
    for (const { w } of this.watches.values()) w.close();
    this.watches.clear();
    this.toRead.length = 0;
    this.wake();
  }

  /** Counts work of the start-up crawl (`initial`) or a later one; -1 when done. */
  private count(initial: boolean, n: number): void {
    this.left.all += n;
    if (initial) this.left.start += n;
    if (n < 0) this.wake();
  }

  /** An lstat or readdir, counted in {@link crawled}; `initial`: of the start-up crawl. */
  private call<T>(initial: boolean, fn: (cb: (err: Error | null, v: T) => void) => void, then: (err: Error | null, v: T) => void): void {
    this.inFlight++;
    this.count(initial, 1);
    fn((err, v) => {
      this.inFlight--;
      if (!this.closed) then(err, v);
      this.pump();
      this.count(initial, -1);
    });
  }

  /**
   * Stats `rel` and watches it when it is a directory; `report`: tell {@link TreeWatchEvents.watched}.
   * `again` ({@link recrawl}): a directory watched already on its inode is read again, not watched again.
   */
  private add(rel: string, report: boolean, again = false): void {
    if (this.skip(rel)) return;
    this.call<fs.Stats>(!report, (cb) => fs.lstat(path.join(this.root, rel), cb), (err, st) => {
      if (err) return this.failed(rel, err, again);
      if (!st.isDirectory()) return;
      const had = again ? this.watches.get(rel) : undefined;
      if (had?.ino === st.ino) return this.queue(rel, report, again);
      if (had) this.drop(rel);
      this.place(rel, st.ino, report, again);
    });
  }

  /**
   * Watches directory `rel` (stat'ed before: if another directory took its place since, the event
   * of that change finds another inode and watches again), then queues it to be read.
   */
  private place(rel: string, ino: number, report: boolean, again = false): void {
    if (this.closed || this.watches.has(rel)) return;
    let w: fs.FSWatcher;
    try {
      w = fs.watch(path.join(this.root, rel), { persistent: true }, (kind, name) => this.event(rel, kind, name));
    } catch (err) {
      this.failed(rel, err, again);
      return;
    }
    w.on("error", (err) => {
      this.drop(rel);
      this.failed(rel, err);
    });
    this.watches.set(rel, { w, ino });
    if (report) this.on.watched(rel);
    this.queue(rel, report, again);
  }

  /** Queues watched directory `rel` to be read for its subdirectories. */
  private queue(rel: string, report: boolean, again: boolean): void {
    if (this.closed) return;
    this.toRead.push({ rel, report, again });
    this.count(!report, 1);
  }

  /** Reads queued directories (a few at once) and watches their subdirectories. */
  private pump(): void {
    while (this.inFlight < READS_AT_ONCE && this.toRead.length > 0) {
      const { rel, report, again } = this.toRead.pop()!;
      this.call<fs.Dirent[]>(!report, (cb) => fs.readdir(path.join(this.root, rel), { withFileTypes: true }, cb), (err, entries) => {
        if (err) {
          this.failed(rel, err, again);
          return;
        }
        for (const e of entries) if (e.isDirectory()) this.add(join(rel, e.name), report, again);
      });
      this.count(!report, -1); // after the call counted itself: the crawl is never seen over between
    }
  }

  /**
   * Reports a failure on `rel` — not a directory gone meanwhile; an inotify limit as such. `again`:
   * met by a recrawl, reported as already said (each recrawl would meet it anew).
   */
  private failed(rel: string, err: unknown, again = false): void {
    if (gone(err)) return;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOSPC" && code !== "EMFILE") return this.on.error(err, again);
    const what = code === "ENOSPC" ? "max_user_watches" : "max_user_instances";
    const limit = new ImzError("IO", `inotify limit reached (fs.inotify.${what}): a directory is not watched, changes in it wait for a whole scan`, {
      path: rel === "" ? "." : rel,
      hint: `raise it (sysctl fs.inotify.${what}=...), or filter the tree with FUSE (intermezzo mount)`,
      cause: err,
    });
    this.on.error(limit, this.limitSaid || again);
    this.limitSaid = true;
  }

  /** Resolves the waits that are over (all of them once closed). */
  private wake(): void {
    const over = (w: { start: boolean }): boolean => this.closed || (w.start ? this.left.start : this.left.all) === 0;
    const done = this.waiters.filter(over);
    this.waiters = this.waiters.filter((w) => !over(w));
    for (const w of done) w.resolve();
  }

  /**
   * An event in directory `rel`: names it. An entry created, moved or removed there ('rename') may
   * be a directory to watch, or a watched one gone or replaced.
   */
  private event(rel: string, kind: string, name: string | Buffer | null): void {
    if (this.closed) return;
    const child = name === null ? undefined : join(rel, name.toString());
    if (child !== undefined && this.skip(child)) return;
    this.on.changed(rel);
    if (kind !== "rename" || child === undefined) return;
    this.call<fs.Stats | undefined>(false, (cb) => fs.lstat(path.join(this.root, child), (err, st) => cb(null, err ? undefined : st)), (_err, st) => {
      const had = this.watches.get(child);
      const dir = st?.isDirectory() ? st : undefined;
      if (had && had.ino === dir?.ino) return; // the directory watched there still
      if (had) {
        // removed or moved away (an inotify watch follows its inode): its watches go; a directory
        // moved within the tree is watched at its new name from that name's own event
        this.drop(child);
        this.on.changed(child);
      }
      if (dir) this.place(child, dir.ino, true);
    });
  }

  /** Removes the watches of `rel` and of every directory beneath it. */
  private drop(rel: string): void {
    const prefix = rel === "" ? "" : rel + "/";
    for (const [d, { w }] of this.watches) {
      if (d === rel || d.startsWith(prefix)) {
        w.close();
        this.watches.delete(d);
      }
    }
  }
}

function join(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/** The directory went away between the event and the call: not an error. */
function gone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}
