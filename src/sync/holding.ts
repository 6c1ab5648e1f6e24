/**
 * Safe access to a holding location. Every path that comes from a record or a frame is built here:
 * names are checked (no `/`, NUL, `.`, `..`, empty or over-long names), and every directory on the way
 * from the root is checked to be a real directory, never a symlink, so nothing is written outside
 * the tree. Files are written through a temp file (in `.intermezzo/tmp`, same filesystem), fsync'd,
 * and renamed into place; directories are fsync'd before a batch is acknowledged.
 */
import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { ImzError } from "../errors.js";
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

  /** fsyncs every directory changed since the last call. */
  syncDirs(): void {
    for (const d of this.dirty) {
      try {
        const fd = fs.openSync(d, "r");
        try {
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    this.dirty.clear();
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
      throw new ImzError("IO", `directory ${path.relative(this.set.root, abs)} is missing`, { cause: err, path: path.relative(this.set.root, abs) });
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

/** Writes `chunks` to a new file at `file` and fsyncs it; returns the bytes written. */
export async function writeAndSync(file: string, chunks: AsyncIterable<Buffer>, onChunk?: (b: Buffer) => void): Promise<number> {
  const fh = await fs.promises.open(file, "wx", 0o600);
  let n = 0;
  try {
    for await (const c of chunks) {
      onChunk?.(c);
      await fh.write(c);
      n += c.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return n;
}
