/**
 * The bottom layer of the filter (the paper's "bottom_ops"): plain file system operations on the
 * holding location, addressed by mount paths (`/a/b`). It knows nothing of the journal; {@link Presto}
 * decorates it. Errors are Node's own (`err.code` is the errno name); the FUSE adapter turns them
 * into `-errno` at its one boundary.
 *
 * Any path valid inside the mount works below it, however long ({@link withPath}).
 *
 * Metadata calls (stat, names, open/close) are synchronous system calls on the local disk: a few
 * microseconds each, where a trip through libuv's thread pool costs a hundred and dominates a
 * many-small-files workload. Data (read, large writes, fsync) goes through the thread pool; a
 * write of up to 64 KiB is synchronous.
 *
 * Calls that create or change an object run as the request's caller ({@link asCaller}: with
 * `--allow-other`, another user's request makes that user's objects, under the kernel's rules).
 */
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { utimensatSync } from "../sync/delta/native.js";
import { asCaller, atAsCaller, posix } from "./caller.js";
import { withPath } from "./long-path.js";
import { AT_FDCWD, xattrNative } from "./xattr-io.js";

const p = {
  read: promisify(fs.read),
  write: promisify(fs.write),
  fsync: promisify(fs.fsync),
  fdatasync: promisify(fs.fdatasync),
};

/** A time as `utimensat(2)` takes it; `nsec` may be {@link UTIME_NOW} or {@link UTIME_OMIT}. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** `tv_nsec` meaning "the current time". */
export const UTIME_NOW = (1 << 30) - 1;
/** `tv_nsec` meaning "leave this time as it is". */
export const UTIME_OMIT = (1 << 30) - 2;

/** What `statfs` reports. */
export interface StatFs {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  namemax: number;
}

/**
 * The operations a filter layer offers, by mount path. File handles are numbers. Every method
 * rejects with an error whose `code` is an errno name (`ENOENT`, `EEXIST`, ...).
 */
export interface FsLayer {
  getattr(p: string): Promise<fs.BigIntStats>;
  readdir(p: string): Promise<string[]>;
  open(p: string, flags: number): Promise<number>;
  create(p: string, mode: number): Promise<number>;
  read(p: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number>;
  write(p: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number>;
  flush(p: string, fh: number): Promise<void>;
  release(p: string, fh: number): Promise<void>;
  fsync(p: string, fh: number, datasync: boolean): Promise<void>;
  truncate(p: string, size: number): Promise<void>;
  ftruncate(p: string, fh: number, size: number): Promise<void>;
  mkdir(p: string, mode: number): Promise<void>;
  rmdir(p: string): Promise<void>;
  unlink(p: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  symlink(target: string, p: string): Promise<void>;
  /** A FIFO, socket or device node (`mode` carries the file type bits, `dev` a device's number). */
  mknod(p: string, mode: number, dev: number): Promise<void>;
  readlink(p: string): Promise<string>;
  link(existing: string, p: string): Promise<void>;
  chmod(p: string, mode: number): Promise<void>;
  chown(p: string, uid: number, gid: number): Promise<void>;
  utimens(p: string, atime: Timespec, mtime: Timespec): Promise<void>;
  statfs(p: string): Promise<StatFs>;
  access(p: string, mode: number): Promise<void>;
  /** An extended attribute's value (ENODATA when the object has none by that name); never follows a symlink. */
  getxattr(p: string, name: string): Promise<Buffer>;
  /** The names of the object's extended attributes (those the caller may read). */
  listxattr(p: string): Promise<string[]>;
  /** Sets an extended attribute (`flags`: 0, XATTR_CREATE or XATTR_REPLACE). */
  setxattr(p: string, name: string, value: Buffer, flags: number): Promise<void>;
  removexattr(p: string, name: string): Promise<void>;
}

/** Writes up to this size are synchronous calls (see {@link Passthrough.write}). */
const SYNC_WRITE_MAX = 64 << 10;

/** The passthrough to a directory: every call is the same call on `<root><path>`. */
export class Passthrough implements FsLayer {
  constructor(
    /** Absolute path of the holding location. */
    readonly root: string,
  ) {}

  /** The holding-location path of mount path `p`. */
  real(mountPath: string): string {
    return path.join(this.root, mountPath);
  }

  /** Runs `fn` on the holding-location path of `mp`, however long (see `long-path.ts`). */
  private at<T>(mp: string, fn: (p: string) => T): T {
    return withPath(this.real(mp), fn);
  }

  /** Runs `fn`, a call that makes or changes an object, on `mp` as the request's caller (see `caller.ts`). */
  private made<T>(mp: string, fn: (p: string) => T): T {
    return atAsCaller(this.real(mp), fn);
  }

  async getattr(mp: string): Promise<fs.BigIntStats> {
    return this.at(mp, (r) => fs.lstatSync(r, { bigint: true }));
  }

  async readdir(mp: string): Promise<string[]> {
    return this.at(mp, (r) => fs.readdirSync(r));
  }

  async open(mp: string, flags: number): Promise<number> {
    // O_APPEND is passed down, as libfuse's passthrough does without a writeback cache: the kernel
    // sends an append at the end *it* knows, which is stale when Lento changed the file beneath the
    // mount (a version brought in by update notification or with a permit); the file's own end counts.
    return this.at(mp, (r) => fs.openSync(r, flags));
  }

  async create(mp: string, mode: number): Promise<number> {
    return this.made(mp, (r) => fs.openSync(r, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, mode & 0o7777));
  }

  async read(_mp: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    return (await p.read(fh, buf, 0, len, pos)).bytesRead;
  }

  async write(_mp: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    // A small write lands in the page cache in microseconds; the thread pool's round trip costs
    // more than that (a small file's one write in an untar). Large writes keep overlapping there.
    if (len <= SYNC_WRITE_MAX) return asCaller(() => fs.writeSync(fh, buf, 0, len, pos));
    return (await p.write(fh, buf, 0, len, pos)).bytesWritten;
  }

  async flush(): Promise<void> {
    // Nothing is buffered in this layer; the descriptor stays open until release.
  }

  async release(_mp: string, fh: number): Promise<void> {
    fs.closeSync(fh);
  }

  fsync(_mp: string, fh: number, datasync: boolean): Promise<void> {
    return datasync ? p.fdatasync(fh) : p.fsync(fh);
  }

  async truncate(mp: string, size: number): Promise<void> {
    this.made(mp, (r) => fs.truncateSync(r, size));
  }

  async ftruncate(_mp: string, fh: number, size: number): Promise<void> {
    asCaller(() => fs.ftruncateSync(fh, size));
  }

  async mkdir(mp: string, mode: number): Promise<void> {
    this.made(mp, (r) => fs.mkdirSync(r, { mode: mode & 0o7777 }));
  }

  async rmdir(mp: string): Promise<void> {
    this.at(mp, (r) => fs.rmdirSync(r));
  }

  async unlink(mp: string): Promise<void> {
    this.at(mp, (r) => fs.unlinkSync(r));
  }

  async rename(from: string, to: string): Promise<void> {
    this.at(from, (a) => this.at(to, (b) => fs.renameSync(a, b)));
  }

  async symlink(target: string, mp: string): Promise<void> {
    this.made(mp, (r) => fs.symlinkSync(target, r));
  }

  async mknod(mp: string, mode: number, dev: number): Promise<void> {
    this.made(mp, (r) => posix().mknod(r, mode, dev));
  }

  async readlink(mp: string): Promise<string> {
    return this.at(mp, (r) => fs.readlinkSync(r));
  }

  async link(existing: string, mp: string): Promise<void> {
    // the existing name, relative to the new one's directory (where a call as the caller runs)
    const from = path.relative(path.dirname(this.real(mp)), this.real(existing));
    this.made(mp, (b) => (b === path.basename(this.real(mp)) ? fs.linkSync(from, b) : this.at(existing, (a) => fs.linkSync(a, b))));
  }

  async chmod(mp: string, mode: number): Promise<void> {
    try {
      this.made(mp, (r) => fs.chmodSync(r, mode & 0o7777));
    } catch (err) {
      // The kernel clears a file's set-id bits before another user's write by sending a chmod the
      // writer could not make: it is the kernel's, and allowed.
      const was = this.at(mp, (r) => Number(fs.lstatSync(r, { bigint: true }).mode & 0o7777n));
      if ((err as NodeJS.ErrnoException).code !== "EPERM" || (mode & 0o7777) !== (was & ~0o6000) || was === (mode & 0o7777)) throw err;
      this.at(mp, (r) => fs.chmodSync(r, mode & 0o7777));
    }
  }

  async chown(mp: string, uid: number, gid: number): Promise<void> {
    this.made(mp, (r) => fs.lchownSync(r, unchanged(uid), unchanged(gid)));
  }

  /** Nanosecond-exact, on the link itself for a symlink (the librsync addon's `utimensat`). */
  async utimens(mp: string, atime: Timespec, mtime: Timespec): Promise<void> {
    this.at(mp, (real) => {
      const omit = atime.nsec === UTIME_OMIT || mtime.nsec === UTIME_OMIT ? fs.lstatSync(real, { bigint: true }) : undefined;
      const now = BigInt(Date.now()) * 1_000_000n;
      const ns = (t: Timespec, current: bigint | undefined): bigint =>
        t.nsec === UTIME_NOW ? now : t.nsec === UTIME_OMIT ? current! : BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
      utimensatSync(real, ns(atime, omit?.atimeNs), ns(mtime, omit?.mtimeNs), true);
    });
  }

  async statfs(mp: string): Promise<StatFs> {
    const s = this.at(mp, (r) => fs.statfsSync(r));
    return { bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namemax: 255 };
  }

  async access(mp: string, mode: number): Promise<void> {
    this.at(mp, (r) => fs.accessSync(r, mode));
  }

  async getxattr(mp: string, name: string): Promise<Buffer> {
    return this.at(mp, (r) => xattrNative().xattrGet(AT_FDCWD, r, name));
  }

  async listxattr(mp: string): Promise<string[]> {
    return this.at(mp, (r) => xattrNative().xattrList(AT_FDCWD, r).map(([k]) => k));
  }

  async setxattr(mp: string, name: string, value: Buffer, flags: number): Promise<void> {
    this.made(mp, (r) => xattrNative().xattrSet(AT_FDCWD, r, name, value, flags));
  }

  async removexattr(mp: string, name: string): Promise<void> {
    this.made(mp, (r) => xattrNative().xattrRemove(AT_FDCWD, r, name));
  }
}

/** `(uid_t)-1` arrives as 2^32-1 and means "leave as it is". */
function unchanged(id: number): number {
  return id === 0xffffffff ? -1 : id;
}
