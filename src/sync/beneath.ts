/**
 * Changes beneath a root that no symlink can redirect (the addon's `beneath.cc`). A directory is
 * opened from the root down without following any symlink (`openat2` with `RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS`, or a walk with `O_NOFOLLOW | O_DIRECTORY`), and every change is made on
 * that directory descriptor and one name in it — a {@link Place} — never on a path the kernel walks
 * again. A directory swapped for a symlink while a sync writes into it fails that path with
 * `PATH_UNSAFE`; it cannot send a write outside the tree.
 */
import fs from "node:fs";
import { ImzError } from "../errors.js";
import { displayPath, nameBytes, relBytes } from "../journal/names.js";
import { binding } from "./delta/native.js";

/** What `fstatat` reports (bigints, like Node's `BigIntStats`), never following a symlink. */
export interface AtStat {
  dev: bigint;
  ino: bigint;
  mode: bigint;
  nlink: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** The addon's *at calls. Names are one path component (string or bytes). */
type Bytes = string | Buffer;
interface BeneathBinding {
  openBeneath(root: string | number, rel: Bytes, flags: number, mode?: number): number;
  mkdirat(dir: number, name: Bytes, mode: number): void;
  unlinkat(dir: number, name: Bytes, removeDir: boolean): void;
  renameat(oldDir: number, oldName: Bytes, newDir: number, newName: Bytes, noReplace: boolean): void;
  linkat(oldDir: number, oldName: Bytes, newDir: number, newName: Bytes): void;
  symlinkat(target: Bytes, dir: number, name: Bytes): void;
  fchmodat(dir: number, name: Bytes, mode: number): void;
  fchownat(dir: number, name: Bytes, uid: number, gid: number): void;
  utimensatAt(dir: number, name: Bytes, atimeNs: bigint, mtimeNs: bigint): void;
  fstatat(dir: number, name: Bytes): AtStat;
  stageFiles(dir: number, data: Uint8Array, names: string[], offsets: number[], sizes: number[], hashes: string[]): Promise<Int32Array>;
}

const native = (): BeneathBinding => binding() as unknown as BeneathBinding;

/** An object's place: its directory, opened beneath the root, and its name there (`.` for the directory itself). */
export interface Place {
  readonly dir: number;
  /** As carried (a raw name for bytes that are not UTF-8: `journal/names.ts`). */
  readonly name: string;
  /** Root-relative path, for messages. */
  readonly rel: string;
}

/**
 * Opens `rel` (root-relative, `""` for the root) beneath `root` (a path, or an open directory's
 * descriptor) with `flags`, following no symlink on the way or at the end. Throws `PATH_UNSAFE` when a component is a symlink or not a directory,
 * `IO` (with the errno code as cause) otherwise.
 */
export function openBeneath(root: string | number, rel: string, flags: number, mode = 0): number {
  try {
    return native().openBeneath(root, relBytes(rel), flags, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "ENOTDIR" || code === "EXDEV") {
      throw new ImzError("PATH_UNSAFE", `${displayPath(rel) || "."}: a symlink or a file is in the way (not followed)`, {
        hint: "something outside intermezzo changed the tree while the sync ran; the next sync rescans it",
        path: rel || ".",
        cause: err,
      });
    }
    throw new ImzError("IO", `${displayPath(rel) || "."}: ${code ?? "error"}: cannot open it`, {
      hint: code === "ENOENT" ? "something outside intermezzo changed the tree; the next sync rescans it" : undefined,
      path: rel || ".",
      cause: err,
    });
  }
}

/** Runs `fn` with directory `rel` opened beneath `root` (see {@link openBeneath}); closes it after. */
export function inDir<T>(root: string | number, rel: string, fn: (dir: number) => T): T {
  const dir = openBeneath(root, rel, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return fn(dir);
  } finally {
    fs.closeSync(dir);
  }
}

/** Creates directory `p`. */
export function mkdirAt(p: Place, mode: number): void {
  native().mkdirat(p.dir, nameBytes(p.name), mode);
}

/** Removes the non-directory `p` (a symlink itself, never its target). */
export function unlinkAt(p: Place): void {
  native().unlinkat(p.dir, nameBytes(p.name), false);
}

/** Removes the empty directory `p`. */
export function rmdirAt(p: Place): void {
  native().unlinkat(p.dir, nameBytes(p.name), true);
}

/** Renames `from` to `to`; with `noReplace` an existing `to` is `EEXIST` (atomic no-clobber). */
export function renameAt(from: Place, to: Place, noReplace: boolean): void {
  native().renameat(from.dir, nameBytes(from.name), to.dir, nameBytes(to.name), noReplace);
}

/** Makes `to` a hard link of `from` (a symlink at `from` is linked itself, not followed). */
export function linkAt(from: Place, to: Place): void {
  native().linkat(from.dir, nameBytes(from.name), to.dir, nameBytes(to.name));
}

/** Creates symlink `p` pointing at `target` (as carried: a raw target becomes its bytes). */
export function symlinkAt(target: string, p: Place): void {
  native().symlinkat(nameBytes(target), p.dir, nameBytes(p.name));
}

/** chmod of `p`, never through a symlink. */
export function chmodAt(p: Place, mode: number): void {
  native().fchmodat(p.dir, nameBytes(p.name), mode);
}

/** lchown of `p` (-1 keeps an id). */
export function chownAt(p: Place, uid: number, gid: number): void {
  native().fchownat(p.dir, nameBytes(p.name), uid, gid);
}

/** Sets the atime and mtime of `p` to `mtimeNs`, never through a symlink. */
export function setMtimeAt(p: Place, mtimeNs: string): void {
  const ns = BigInt(mtimeNs);
  native().utimensatAt(p.dir, nameBytes(p.name), ns, ns);
}

/** lstat of `p`. */
export function statAt(p: Place): AtStat {
  return native().fstatat(p.dir, nameBytes(p.name));
}

/** One file of a batch for {@link stageFiles}: its new name in the directory, and its bytes (`at`, `size`) of the batch's data. */
export interface StagedFile {
  name: string;
  at: number;
  size: number;
  /** The content hash its bytes must have. */
  hash: string;
}

/**
 * Writes each of `files` (its bytes of `data`, when they have its hash) to a new file in directory
 * `dir` (`O_CREAT | O_EXCL`, mode 0600, never through a symlink) on a worker thread, one hand-off
 * for the batch (`native/stage.cc`). Resolves with each file's status: `0` written, `-1` bytes
 * not matching the hash (nothing written), `-2` not tried, or the errno that failed it (that file
 * removed; the files after it are not tried).
 */
export function stageFiles(dir: number, data: Uint8Array, files: readonly StagedFile[]): Promise<Int32Array> {
  return native().stageFiles(
    dir,
    data,
    files.map((f) => f.name),
    files.map((f) => f.at),
    files.map((f) => f.size),
    files.map((f) => f.hash),
  );
}

/** True when `p` names something (of any type); false for ENOENT. */
export function existsAt(p: Place): boolean {
  try {
    statAt(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/**
 * A path naming open file `fd` itself, for Node calls that take only a path (`copyFile`, a
 * promise-based open): the kernel resolves it to the open file, it does not walk the tree again.
 */
export function fdPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}
