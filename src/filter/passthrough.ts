/**
 * The bottom layer of the filter (the paper's "bottom_ops"): plain file system operations on the
 * holding location, addressed by mount paths (`/a/b`). It knows nothing of the journal; {@link Presto}
 * decorates it. Errors are Node's own (`err.code` is the errno name); the FUSE adapter turns them
 * into `-errno` at its one boundary.
 *
 * Metadata calls (stat, names, open/close) are synchronous system calls on the local disk: a few
 * microseconds each, where a trip through libuv's thread pool costs a hundred and dominates a
 * many-small-files workload. Data (read, large writes, fsync) goes through the thread pool; a
 * write of up to 64 KiB is synchronous.
 */
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { utimensat } from "../sync/delta/native.js";

const p = {
  read: promisify(fs.read),
  write: promisify(fs.write),
  fsync: promisify(fs.fsync),
  fdatasync: promisify(fs.fdatasync),
  ftruncate: promisify(fs.ftruncate),
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
  readlink(p: string): Promise<string>;
  link(existing: string, p: string): Promise<void>;
  chmod(p: string, mode: number): Promise<void>;
  chown(p: string, uid: number, gid: number): Promise<void>;
  utimens(p: string, atime: Timespec, mtime: Timespec): Promise<void>;
  statfs(p: string): Promise<StatFs>;
  access(p: string, mode: number): Promise<void>;
}

/** Writes up to this size are synchronous calls (see {@link Passthrough.write}). */
const SYNC_WRITE_MAX = 64 << 10;

/** `O_APPEND`: never passed down; the kernel already sends appends at the file's end offset. */
const O_APPEND = fs.constants.O_APPEND;

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

  async getattr(mp: string): Promise<fs.BigIntStats> {
    return fs.lstatSync(this.real(mp), { bigint: true });
  }

  async readdir(mp: string): Promise<string[]> {
    return fs.readdirSync(this.real(mp));
  }

  async open(mp: string, flags: number): Promise<number> {
    return fs.openSync(this.real(mp), flags & ~O_APPEND);
  }

  async create(mp: string, mode: number): Promise<number> {
    return fs.openSync(this.real(mp), fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, mode & 0o7777);
  }

  async read(_mp: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    return (await p.read(fh, buf, 0, len, pos)).bytesRead;
  }

  async write(_mp: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    // A small write lands in the page cache in microseconds; the thread pool's round trip costs
    // more than that (a small file's one write in an untar). Large writes keep overlapping there.
    if (len <= SYNC_WRITE_MAX) return fs.writeSync(fh, buf, 0, len, pos);
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
    fs.truncateSync(this.real(mp), size);
  }

  ftruncate(_mp: string, fh: number, size: number): Promise<void> {
    return p.ftruncate(fh, size);
  }

  async mkdir(mp: string, mode: number): Promise<void> {
    fs.mkdirSync(this.real(mp), { mode: mode & 0o7777 });
  }

  async rmdir(mp: string): Promise<void> {
    fs.rmdirSync(this.real(mp));
  }

  async unlink(mp: string): Promise<void> {
    fs.unlinkSync(this.real(mp));
  }

  async rename(from: string, to: string): Promise<void> {
    fs.renameSync(this.real(from), this.real(to));
  }

  async symlink(target: string, mp: string): Promise<void> {
    fs.symlinkSync(target, this.real(mp));
  }

  async readlink(mp: string): Promise<string> {
    return fs.readlinkSync(this.real(mp));
  }

  async link(existing: string, mp: string): Promise<void> {
    fs.linkSync(this.real(existing), this.real(mp));
  }

  async chmod(mp: string, mode: number): Promise<void> {
    fs.chmodSync(this.real(mp), mode & 0o7777);
  }

  async chown(mp: string, uid: number, gid: number): Promise<void> {
    fs.lchownSync(this.real(mp), unchanged(uid), unchanged(gid));
  }

  /** Nanosecond-exact, on the link itself for a symlink (the librsync addon's `utimensat`). */
  async utimens(mp: string, atime: Timespec, mtime: Timespec): Promise<void> {
    const real = this.real(mp);
    const omit = atime.nsec === UTIME_OMIT || mtime.nsec === UTIME_OMIT ? fs.lstatSync(real, { bigint: true }) : undefined;
    const now = BigInt(Date.now()) * 1_000_000n;
    const ns = (t: Timespec, current: bigint | undefined): bigint =>
      t.nsec === UTIME_NOW ? now : t.nsec === UTIME_OMIT ? current! : BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec);
    await utimensat(real, ns(atime, omit?.atimeNs), ns(mtime, omit?.mtimeNs), true);
  }

  async statfs(mp: string): Promise<StatFs> {
    const s = await fs.promises.statfs(this.real(mp));
    return { bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, namemax: 255 };
  }

  async access(mp: string, mode: number): Promise<void> {
    fs.accessSync(this.real(mp), mode);
  }
}

/** `(uid_t)-1` arrives as 2^32-1 and means "leave as it is". */
function unchanged(id: number): number {
  return id === 0xffffffff ? -1 : id;
}
