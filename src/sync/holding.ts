/**
 * Safe access to a holding location. Every path that comes from a record or a frame is built here:
 * names are checked (no `/`, NUL, `.`, `..`, empty or over-long names), and every change is made on
 * a directory opened from the root down without following symlinks (`beneath.ts`), so nothing is
 * written outside the tree, even when a directory is swapped for a symlink while the sync runs.
 * Files are written through a temp file (in `.intermezzo/tmp`, same filesystem), made durable
 * (`syncfs`, once per window of staged files) before they are renamed into place, and the whole
 * batch — directories included — is flushed again before it is acknowledged. A batch of a few
 * files installed from temp files flushes just those and their directories (`flush-list.ts`).
 */
import fs from "node:fs";
import path from "node:path";
import util from "node:util";
import { ImzError } from "../errors.js";
import { syncfs } from "./delta/native.js";
import { writeChunks } from "./delta/write.js";
import { diskFullError } from "../journal/disk-full.js";
import { META_DIR, type FileSet } from "../journal/fileset.js";
import { displayName, displayPath, isRaw, rawBytes } from "../journal/names.js";
import { ROOT_FID } from "../journal/records.js";
import { fdPath, inDir, openBeneath, renameAt, stageFiles, statAt, type Place } from "./beneath.js";
import { FlushList, flushTargets, releaseTargets } from "./flush-list.js";
import { randomHex } from "../random-hex.js";

/** Each open file set's temp area, opened beneath its root ({@link Holding.tmpFd}). */
const tmpFds = new WeakMap<FileSet, number>();
/** Each open file set's root directory, opened once ({@link Holding.rootFd}). */
const rootFds = new WeakMap<FileSet, number>();
/**
 * Temp names are `<prefix>-<pid>-<this process's random tag>-<counter>`: unique in this process by
 * the counter, across processes by the pid, and across a reused pid by the tag (`randomBytes` per
 * name cost 2% of a first copy of small files).
 */
const TEMP_RUN = randomHex(4);
let tempCount = 0;

/** How an object is opened to be flushed by name: never following a symlink, never blocking. */
const FLUSH_OPEN = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** Longest name accepted, in bytes (Linux NAME_MAX). */
export const NAME_MAX = 255;

/**
 * Throws `PATH_UNSAFE` unless `name` is one plain path component: a string without `/` or NUL, or a
 * canonical raw name (bytes that are not valid UTF-8, `names.ts`) whose bytes have neither.
 */
export function checkName(name: string): void {
  const raw = isRaw(name) ? rawBytes(name) : undefined;
  const bad = isRaw(name)
    ? raw === undefined || raw.includes(0x2f) || raw.includes(0) || raw.length > NAME_MAX
    : name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0") || Buffer.byteLength(name) > NAME_MAX;
  if (bad) {
    throw new ImzError("PATH_UNSAFE", `refusing unsafe name ${JSON.stringify(displayName(name).slice(0, 80))}`, {
      hint: "the peer sent a path that would leave the file set; nothing was written",
    });
  }
}

/** Throws `PATH_UNSAFE` for a root-relative path with an unsafe component, an absolute path, or `.intermezzo`. */
export function checkRelPath(rel: string): string[] {
  if (rel.startsWith("/")) throw new ImzError("PATH_UNSAFE", `refusing absolute path ${JSON.stringify(rel.slice(0, 80))}`);
  const parts = rel.split("/");
  for (const p of parts) checkName(p);
  if (parts[0] === META_DIR) throw new ImzError("PATH_UNSAFE", `refusing a path inside ${META_DIR}/`);
  return parts;
}

/**
 * Resolves objects of a file set to {@link Place}s — their directory opened beneath the root, never
 * through a symlink — and installs files atomically.
 */
export class Holding {
  private readonly retired = new Map<string, string>();
  /** Changes counted so far: temp files staged ({@link Holding.stagedTicket}) and changes made in the tree ({@link Holding.touched}). */
  private staged = 0;
  /** Every change counted up to this one is on disk. */
  private durableUpTo = 0;
  private flushing: Promise<void> | undefined;
  /** What the changes counted since the last flush began need flushed, when they are few (else a `syncfs`). */
  private readonly flushList = new FlushList();
  /** Settles when the batch being staged ({@link Holding.writeTemps}) is written. */
  private stagingDone: Promise<unknown> = Promise.resolve();

  /** Directories' paths, remembered while {@link Holding.reading} runs (nothing moves meanwhile). */
  private dirPaths: Map<string, string> | undefined;

  constructor(readonly set: FileSet) {}

  /**
   * Runs `fn`, which reads the file set and changes nothing, in one read transaction (see
   * `FileSet.reading`), remembering the paths of the directories it looks up (a first copy's
   * sender walked two or three rows up for each file it read).
   */
  reading<T>(fn: () => T): T {
    return this.set.reading(() => {
      const outer = this.dirPaths;
      this.dirPaths ??= new Map();
      try {
        return fn();
      } finally {
        this.dirPaths = outer;
      }
    });
  }

  /** Root-relative path of object `fid` (`""` for the root), every name checked. */
  relOf(fid: string): string {
    if (fid === ROOT_FID) return "";
    const rel = this.set.fsdb.pathOf(fid, this.dirPaths);
    checkRelPath(rel);
    return rel;
  }

  /**
   * Runs `fn` with the place of object `fid`: its directory opened beneath the root (no symlink on
   * the way), and its name there; the root is its own directory and `.`. The directory is closed
   * after `fn`. Throws `PATH_UNSAFE` when a directory on the way is a symlink or a file.
   */
  at<T>(fid: string, fn: (p: Place) => T): T {
    if (fid === ROOT_FID) return inDir(this.rootFd(), "", (dir) => fn({ dir, name: ".", rel: "." }));
    const o = this.set.fsdb.must(fid);
    return this.atChild(o.parent!, o.name, (p) => {
      if (o.type === "f" || o.type === "d") checkType(p, o.type);
      return fn(p);
    });
  }

  /** Runs `fn` with the place of name `name` in directory `parent` (see {@link Holding.at}). */
  atChild<T>(parent: string, name: string, fn: (p: Place) => T): T {
    checkName(name);
    if (parent === ROOT_FID && name === META_DIR) throw new ImzError("PATH_UNSAFE", `refusing to touch ${META_DIR}/`);
    const dirRel = this.relOf(parent);
    const rel = dirRel === "" ? name : `${dirRel}/${name}`;
    return inDir(this.rootFd(), dirRel, (dir) => {
      try {
        return fn({ dir, name, rel });
      } catch (err) {
        throw diskFullError(err, rel);
      }
    });
  }

  /**
   * Opens regular file `fid` for reading, following no symlink on the way or at the end (and never
   * blocking on a FIFO put in its place); the caller closes it.
   */
  openRead(fid: string): number {
    return this.openFile(fid).fd;
  }

  /** {@link Holding.openRead}, with the open file's stat (one `fstat` for the check and the caller). */
  openFile(fid: string): { fd: number; st: fs.BigIntStats } {
    const rel = this.relOf(fid);
    const fd = openBeneath(this.rootFd(), rel, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd, { bigint: true });
    if (!st.isFile()) {
      fs.closeSync(fd);
      throw new ImzError("PATH_UNSAFE", `${displayPath(rel)} is not a regular file (something else is in its place)`, { hint: "something outside intermezzo changed the tree; rescan it", path: rel });
    }
    return { fd, st };
  }

  /** Runs `fn` with the place of temp file `temp` (a path from {@link Holding.tempPath}). */
  atTemp<T>(temp: string, fn: (p: Place) => T): T {
    const name = path.basename(temp);
    return fn({ dir: this.tmpFd(), name, rel: `${META_DIR}/tmp/${name}` });
  }

  /**
   * The temp area, opened beneath the root once per file set (closed with it). Temp paths name it
   * through `/proc/self/fd/N`: the kernel resolves them to this directory without walking the tree,
   * so `.intermezzo/tmp` swapped for a symlink meanwhile cannot send a temp file elsewhere.
   */
  private tmpFd(): number {
    return this.openedOnce(tmpFds, `${META_DIR}/tmp`);
  }

  /**
   * The root directory, opened once per file set (closed with it): every place is opened beneath
   * it, without opening the root by its path again for each (two system calls and a path walk less
   * per file on a first copy).
   */
  private rootFd(): number {
    return this.openedOnce(rootFds, "");
  }

  /** Directory `rel` opened beneath the root once per file set, kept in `cache` until the set closes. */
  private openedOnce(cache: WeakMap<FileSet, number>, rel: string): number {
    let fd = cache.get(this.set);
    if (fd === undefined) {
      const opened = openBeneath(this.set.root, rel, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      const set = this.set;
      cache.set(set, opened);
      set.onClose(() => {
        cache.delete(set);
        fs.closeSync(opened);
      });
      fd = opened;
    }
    return fd;
  }

  /**
   * Counts a change made in the tree (a name added, removed or moved, attributes set): it must be
   * flushed before the batch is acknowledged ({@link Holding.syncDirs}). A flush already under way
   * may have started before it, so it does not count for it.
   */
  touched(): void {
    this.staged++;
    this.flushList.untargeted();
  }

  /**
   * Makes every change counted so far durable, directories included: one `syncfs` of the file
   * set's filesystem (cheaper than an fsync per directory and per file, and it covers both), or,
   * for a few installed files, an fsync of each and of its directory (`flush-list.ts`); unless an
   * earlier flush started after the last change.
   */
  async syncDirs(): Promise<void> {
    await this.makeDurable(this.staged);
  }

  /** Registers completely written temp file `temp`; returns the ticket {@link Holding.makeDurable} takes. */
  stagedTicket(temp: string): number {
    this.flushList.staged(temp);
    return ++this.staged;
  }

  /**
   * The batch is abandoned (its Fsdb changes roll back): what it named to flush is let go, and the
   * next flush is a `syncfs`, which covers whatever it left on disk, as before.
   */
  abandonFlush(): void {
    this.flushList.untargeted();
  }

  /**
   * Waits until every temp file staged up to `ticket` is on disk. One `syncfs` covers every file
   * staged before it started, so a window of prefetched files costs one flush, not one each; a few
   * files are flushed one by one instead (`flush-list.ts`), every change counted before it started.
   */
  async makeDurable(ticket: number): Promise<void> {
    while (this.durableUpTo < ticket) {
      if (!this.flushing) {
        const upTo = this.staged;
        const targets = this.flushList.take();
        const aside = this.set.tookAside();
        if (aside && targets) releaseTargets(targets);
        this.flushing = (targets && !aside ? flushTargets(targets) : syncfs(this.set.tmpDir)).then(
          () => {
            this.durableUpTo = Math.max(this.durableUpTo, upTo);
            this.flushing = undefined;
          },
          (err: unknown) => {
            this.flushing = undefined;
            throw err;
          },
        );
      }
      await this.flushing;
    }
  }

  /**
   * Removes the file at place `p` (name `name` in directory `parent`) from the tree but keeps its
   * data in the temp area until {@link Holding.dropRetired}: a file created at that name later in
   * the batch (a safe save arrives as an unlink and a create) uses it as its delta basis
   * ({@link Holding.retiredAt}).
   */
  retire(p: Place, parent: string, name: string): void {
    const temp = this.tempPath();
    this.atTemp(temp, (t) => renameAt(p, t, true));
    const key = `${parent}/${name}`;
    const previous = this.retired.get(key);
    if (previous !== undefined) fs.rmSync(previous, { force: true });
    this.retired.set(key, temp);
  }

  /** The data of the file retired from `name` in directory `parent` during this batch, if any. */
  retiredAt(parent: string, name: string): string | undefined {
    return this.retired.get(`${parent}/${name}`);
  }

  /** Deletes every retired file (at the end of a batch; a crash leaves them to the next start's temp cleanup). */
  dropRetired(): void {
    for (const temp of this.retired.values()) fs.rmSync(temp, { force: true });
    this.retired.clear();
  }

  /**
   * Writes a batch of small files to fresh temp files and returns their paths (see
   * {@link Holding.tempPath}), or undefined for a file whose bytes do not have its hash (nothing is
   * written for it). `files` are the bytes of `data` at `at`, `size` long. They are hashed and
   * written on a worker thread, one hand-off for the batch (`beneath.ts` `stageFiles`): on the event
   * loop the receiver's hashing and file creation were about a tenth of a first copy. Each file is
   * created relative to the temp area's descriptor (a path through `/proc/self/fd` costs the kernel a
   * walk of procfs per creation), `O_EXCL`, mode 0600. When one cannot be created or written, every
   * file of the batch is removed and the error thrown (`DISK_FULL` for a full disk).
   */
  async writeTemps(data: Uint8Array, files: ReadonlyArray<{ at: number; size: number; hash: string }>): Promise<Array<string | undefined>> {
    const temps = files.map(() => this.tempPath());
    // one batch at a time: threads creating files in one directory at once wait on its lock (strace:
    // each creation took three times as long with four batches at once as on the event loop)
    const staged = this.stagingDone.then(() => stageFiles(this.tmpFd(), data, files.map((f, k) => ({ ...f, name: path.basename(temps[k]!) }))));
    this.stagingDone = staged.catch(() => undefined);
    const status = await staged;
    const failed = status.findIndex((s) => s > 0);
    if (failed < 0) return temps.map((t, k) => (status[k] === 0 ? t : undefined));
    status.forEach((s, k) => s === 0 && fs.rmSync(temps[k]!, { force: true }));
    const code = util.getSystemErrorName(-status[failed]!);
    const err = Object.assign(new Error(`${code}: cannot write a temp file`), { code, errno: -status[failed]! });
    const full = diskFullError(err, this.set.tmpDir);
    throw full instanceof ImzError ? full : new ImzError("IO", `${displayPath(`${META_DIR}/tmp`)}: ${code}: cannot write a temp file`, {
          path: `${META_DIR}/tmp`,
          hint: "check the file set's disk and .intermezzo/tmp; nothing of the batch was installed, and the next sync fetches it again",
          cause: err,
        });
  }

  /** A fresh temp file path in the file set's temp area (valid in this process only: see {@link Holding.tmpFd}). */
  tempPath(prefix = "t"): string {
    return path.join(fdPath(this.tmpFd()), `${prefix}-${process.pid}-${TEMP_RUN}-${(tempCount++).toString(36)}`);
  }

  /**
   * Moves a complete temp file to place `dest`. With `replace` false the destination must not
   * exist (atomic no-clobber); with `replace` true it atomically replaces `dest`.
   */
  install(temp: string, dest: Place, replace: boolean): void {
    this.atTemp(temp, (t) => {
      this.flushList.installing(temp, () => openBeneath(t.dir, t.name, FLUSH_OPEN), path.dirname(dest.rel), () => openBeneath(dest.dir, ".", FLUSH_OPEN));
      renameAt(t, dest, !replace);
    });
    this.staged++;
  }

  /**
   * Counts a change of the attributes of the object at `p`, of type `type`: flushed by name when it
   * is a file or directory and the batch is small (`flush-list.ts`), else as {@link Holding.touched}.
   */
  touchedAt(p: Place, type: string): void {
    if (type !== "f" && type !== "d") return this.touched();
    this.staged++;
    this.flushList.changed(p.rel, () => openBeneath(p.dir, p.name, FLUSH_OPEN));
  }
}

/**
 * Throws `PATH_UNSAFE` when something other than a `type` is at `p` — a symlink where the Fsdb
 * knows a file or directory (the operations never follow it, but the change is not what was asked).
 * A missing object is the caller's to report.
 */
function checkType(p: Place, type: "f" | "d"): void {
  let st;
  try {
    st = statAt(p);
  } catch {
    return;
  }
  const fmt = st.mode & 0o170000n;
  if (fmt !== (type === "d" ? 0o040000n : 0o100000n)) {
    throw new ImzError("PATH_UNSAFE", `${p.rel} is not a ${type === "d" ? "directory" : "regular file"} (a symlink or other object is in the way)`, {
      hint: "something outside intermezzo changed the tree; rescan it",
      path: p.rel,
    });
  }
}

/**
 * Writes `chunks` to a new file at `file`; returns the bytes written. Durability comes from
 * {@link Holding.makeDurable} before the file replaces anything. A full disk is `DISK_FULL` naming `where`.
 */
export async function writeStaged(file: string, chunks: AsyncIterable<Buffer>, onChunk?: (b: Buffer) => Promise<void> | undefined | void, where?: string): Promise<number> {
  try {
    return await writeAll(file, chunks, onChunk);
  } catch (err) {
    throw diskFullError(err, where);
  }
}

async function writeAll(file: string, chunks: AsyncIterable<Buffer>, onChunk?: (b: Buffer) => Promise<void> | undefined | void): Promise<number> {
  // Small content (the common case) is gathered and written with one synchronous call: three
  // thread-pool trips per file (open, write, close) cost more than the write itself.
  const it = chunks[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let n = 0;
  for (;;) {
    const next = await it.next();
    if (next.done) {
      fs.writeFileSync(file, head.length === 1 ? head[0]! : Buffer.concat(head), { flag: "wx", mode: 0o600 });
      return n;
    }
    await onChunk?.(next.value);
    head.push(next.value);
    n += next.value.length;
    if (n > SMALL_WRITE) break;
  }
  const fh = await fs.promises.open(file, "wx", 0o600);
  try {
    for (const c of head) await fh.write(c);
    n += await writeChunks(it, fh, onChunk ?? (() => undefined));
  } finally {
    await fh.close();
  }
  return n;
}

/** Content up to this size is staged with one synchronous write. */
const SMALL_WRITE = 1 << 20;
