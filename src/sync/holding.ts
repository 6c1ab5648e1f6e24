/**
 * Safe access to a holding location. Every path that comes from a record or a frame is built here:
 * names are checked (no `/`, NUL, `.`, `..`, empty or over-long names), and every directory on the way
 * from the root is checked to be a real directory, never a symlink, so nothing is written outside
 * the tree. Files are written through a temp file (in `.intermezzo/tmp`, same filesystem), made
 * durable (`syncfs`, once per window of staged files) before they are renamed into place, and the
 * whole batch — directories included — is flushed again before it is acknowledged.
 */
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { ImzError } from "../errors.js";
import { syncfs } from "./delta/native.js";
import { writeChunks } from "./delta/write.js";
import { META_DIR, type FileSet } from "../journal/fileset.js";
import { ROOT_FID } from "../journal/records.js";

/** Longest name accepted, in bytes (Linux NAME_MAX). */
export const NAME_MAX = 255;

/** Throws `PATH_UNSAFE` unless `name` is one plain path component. */
export function checkName(name: string): void {
  const bad =
    name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0") || Buffer.byteLength(name) > NAME_MAX;
  if (bad) {
    throw new ImzError("PATH_UNSAFE", `refusing unsafe name ${JSON.stringify(name.slice(0, 80))}`, {
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

/** Resolves objects of a file set to checked absolute paths and writes files atomically. */
export class Holding {
  private readonly verified = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly retired = new Map<string, string>();
  private staged = 0;
  private durableUpTo = 0;
  private flushing: Promise<void> | undefined;

  constructor(readonly set: FileSet) {}

  /**
   * Absolute path of object `fid`, with every directory on the way checked, and the object itself
   * checked not to be a symlink where the Fsdb knows a file or directory (a chmod or a read would
   * follow it out of the tree). A missing object is the caller's to report.
   */
  pathOf(fid: string): string {
    if (fid === ROOT_FID) return this.set.root;
    const rel = this.set.fsdb.pathOf(fid);
    const parts = checkRelPath(rel);
    this.verifyDirs(parts.slice(0, -1));
    const abs = path.join(this.set.root, ...parts);
    const type = this.set.fsdb.get(fid)?.type;
    if (type === "d") this.verifyDir(abs);
    else if (type === "f") this.verifyNotSymlink(abs);
    return abs;
  }

  /** Absolute path for name `name` in directory `parent` (checked, the directory verified). */
  childPath(parent: string, name: string): string {
    checkName(name);
    if (parent === ROOT_FID && name === META_DIR) throw new ImzError("PATH_UNSAFE", `refusing to touch ${META_DIR}/`);
    const dir = this.pathOf(parent);
    if (parent !== ROOT_FID) this.verifyDir(dir);
    return path.join(dir, name);
  }

  /** Forgets verified directories (after renames or removals of directories). */
  forget(): void {
    this.verified.clear();
  }

  /** Notes that directory `dir` changed and needs an fsync before the batch is acknowledged. */
  touched(dir: string): void {
    this.dirty.add(dir);
  }

  /**
   * Makes every change since the last call durable, directories included: one `syncfs` of the
   * file set's filesystem (cheaper than an fsync per directory and per file, and it covers both).
   */
  async syncDirs(): Promise<void> {
    if (this.dirty.size === 0 && this.staged === this.durableUpTo) return;
    await this.makeDurable(this.staged);
    this.dirty.clear();
  }

  /** Registers a completely written temp file; returns the ticket {@link Holding.makeDurable} takes. */
  stagedTicket(): number {
    return ++this.staged;
  }

  /**
   * Waits until every temp file staged up to `ticket` is on disk. One `syncfs` covers every file
   * staged before it started, so a window of prefetched files costs one flush, not one each.
   */
  async makeDurable(ticket: number): Promise<void> {
    while (this.durableUpTo < ticket) {
      if (!this.flushing) {
        const upTo = this.staged;
        this.flushing = syncfs(this.set.tmpDir).then(
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
   * Removes file `file` (at `name` in directory `parent`) from the tree but keeps its data in the
   * temp area until {@link Holding.dropRetired}: a file created at that name later in the batch (a
   * safe save arrives as an unlink and a create) uses it as its delta basis ({@link Holding.retiredAt}).
   */
  retire(file: string, parent: string, name: string): void {
    const temp = this.tempPath();
    fs.renameSync(file, temp);
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

  /** A fresh temp file path in the file set's temp area. */
  tempPath(): string {
    return path.join(this.set.tmpDir, `t-${process.pid}-${randomBytes(6).toString("hex")}`);
  }

  /**
   * Moves a complete temp file to `dest`. With `replace` false the destination must not exist (a
   * hard link then unlink: atomic no-clobber); with `replace` true it atomically replaces `dest`.
   */
  install(temp: string, dest: string, replace: boolean): void {
    if (replace) fs.renameSync(temp, dest);
    else {
      fs.linkSync(temp, dest);
      fs.unlinkSync(temp);
    }
    this.touched(path.dirname(dest));
  }

  private verifyDirs(parts: string[]): void {
    let cur = this.set.root;
    for (const p of parts) {
      cur = path.join(cur, p);
      this.verifyDir(cur);
    }
  }

  private verifyNotSymlink(abs: string): void {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) {
      throw new ImzError("PATH_UNSAFE", `${path.relative(this.set.root, abs)} is a symlink where a file was expected`, {
        hint: "something outside intermezzo changed the tree; rescan it",
        path: path.relative(this.set.root, abs),
      });
    }
  }

  private verifyDir(abs: string): void {
    if (this.verified.has(abs)) return;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(abs);
    } catch (err) {
      throw new ImzError("IO", `directory ${path.relative(this.set.root, abs)} is missing`, {
        cause: err,
        path: path.relative(this.set.root, abs),
        hint: "something outside intermezzo changed the tree; the next sync rescans it",
      });
    }
    if (!st.isDirectory()) {
      throw new ImzError("PATH_UNSAFE", `${path.relative(this.set.root, abs)} is not a directory (a symlink or file is in the way)`, {
        hint: "something outside intermezzo changed the tree; rescan it",
        path: path.relative(this.set.root, abs),
      });
    }
    this.verified.add(abs);
  }
}

/**
 * Writes `chunks` to a new file at `file`; returns the bytes written. Durability comes from
 * {@link Holding.makeDurable} before the file replaces anything.
 */
export async function writeStaged(file: string, chunks: AsyncIterable<Buffer>, onChunk?: (b: Buffer) => void): Promise<number> {
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
    onChunk?.(next.value);
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
