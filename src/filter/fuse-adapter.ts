/**
 * The thin FUSE adapter: fuse-native (over Debian's libfuse2) calling a {@link FsLayer}. It turns
 * callbacks into promises, stats into fuse-native's shape, and every error into `-errno` at one
 * boundary ({@link toErrno}). Mount options: see docs/DESIGN.md "Presto mount options".
 */
import { execFile } from "node:child_process";
import type fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { promisify } from "node:util";
import { ImzError, isImzError, type ErrorCode } from "../errors.js";
import { installed } from "../install.js";
import { withCaller, type Caller } from "./caller.js";
import type { FsLayer, Timespec } from "./passthrough.js";

type Cb<T = void> = (err: number, value?: T) => void;

/** The patched fuse-native's stat shape: times in ms plus the nanoseconds within their second. */
interface FuseStat {
  mode: number; uid: number; gid: number; size: number; dev: number; nlink: number; ino: number;
  rdev: number; blksize: number; blocks: number; atime: number; mtime: number; ctime: number;
  atimeNsec: number; mtimeNsec: number; ctimeNsec: number;
}

/**
 * The subset of fuse-native's handler table this adapter implements. Extended attributes: the
 * filter reads them through and journals changes of the replicated ones (`user.*`, the POSIX ACLs);
 * the patched binding answers ERANGE when the caller's buffer is too small.
 */
interface FuseOps {
  getattr(p: string, cb: Cb<FuseStat>): void;
  readdir(p: string, cb: Cb<string[]>): void;
  open(p: string, flags: number, cb: Cb<number>): void;
  create(p: string, mode: number, cb: Cb<number>): void;
  read(p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void;
  write(p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void;
  flush(p: string, fd: number, cb: Cb): void;
  release(p: string, fd: number, cb: Cb): void;
  fsync(p: string, datasync: number, fd: number, cb: Cb): void;
  truncate(p: string, size: number, cb: Cb): void;
  ftruncate(p: string, fd: number, size: number, cb: Cb): void;
  mkdir(p: string, mode: number, cb: Cb): void;
  rmdir(p: string, cb: Cb): void;
  unlink(p: string, cb: Cb): void;
  rename(src: string, dest: string, cb: Cb): void;
  symlink(target: string, p: string, cb: Cb): void;
  mknod(p: string, mode: number, dev: number, cb: Cb): void;
  readlink(p: string, cb: Cb<string>): void;
  link(existing: string, p: string, cb: Cb): void;
  chmod(p: string, mode: number, cb: Cb): void;
  chown(p: string, uid: number, gid: number, cb: Cb): void;
  utimens(p: string, atime: Timespec, mtime: Timespec, cb: Cb): void;
  statfs(p: string, cb: Cb<Record<string, number>>): void;
  access(p: string, mode: number, cb: Cb): void;
  getxattr(p: string, name: string, position: number, cb: Cb<Buffer>): void;
  listxattr(p: string, cb: Cb<string[]>): void;
  setxattr(p: string, name: string, value: Buffer, position: number, flags: number, cb: Cb): void;
  removexattr(p: string, name: string, cb: Cb): void;
}

interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}

type FuseClass = (new (mnt: string, ops: FuseOps, opts: Record<string, unknown>) => FuseInstance) & {
  /** The caller of the request whose handler runs now (the patched binding; call synchronously). */
  caller(): Caller;
};

/** Options of {@link mountLayer}. */
export interface MountOptions {
  /** Let other users use the mount (`allow_other`; needs `user_allow_other` for non-root). */
  allowOther?: boolean;
  /** libfuse's debug output on stderr. */
  debug?: boolean;
  /** Name shown in /proc/mounts. */
  fsname?: string;
}

/** A mounted filter. */
export interface Mounted {
  readonly mountpoint: string;
  /** Unmounts (lazily if busy) and stops serving. */
  unmount(): Promise<void>;
}

/**
 * libfuse options fuse-native has no names for, passed through the patched binding's `options`:
 * 128 KiB writes (the kernel otherwise sends 4 KiB ones), the underlying inode numbers, and page
 * cache kept across opens unless the file's size or mtime changed. See docs/DESIGN.md.
 */
export const EXTRA_OPTIONS = ["big_writes", "max_write=131072", "use_ino", "auto_cache"];

/** Where scripts/build-fuse.sh puts the patched fuse-native. */
export const FUSE_NATIVE_DIR = installed("node_modules", ".intermezzo", "fuse-native") + "/";

/** Maps any thrown value to a negative errno: Node errno names, ImzError codes, else EIO. */
export function toErrno(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  if (isImzError(err)) return -(IMZ_ERRNO[err.code] ?? os.constants.errno.EIO);
  if (typeof code === "string") {
    const n = (os.constants.errno as Record<string, number | undefined>)[code];
    if (n !== undefined) return -n;
  }
  return -os.constants.errno.EIO;
}

const IMZ_ERRNO: Partial<Record<ErrorCode, number>> = {
  PATH_UNSAFE: os.constants.errno.EPERM,
  USAGE: os.constants.errno.EINVAL,
  UNSUPPORTED: os.constants.errno.EOPNOTSUPP,
  CONNECTION_LOST: os.constants.errno.EIO,
};

function toFuseStat(st: fs.BigIntStats): FuseStat {
  return {
    mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size), dev: Number(st.dev),
    nlink: Number(st.nlink), ino: Number(st.ino), rdev: Number(st.rdev), blksize: Number(st.blksize), blocks: Number(st.blocks),
    atime: Number(st.atimeMs), mtime: Number(st.mtimeMs), ctime: Number(st.ctimeMs),
    atimeNsec: Number(st.atimeNs % 1_000_000_000n), mtimeNsec: Number(st.mtimeNs % 1_000_000_000n), ctimeNsec: Number(st.ctimeNs % 1_000_000_000n),
  };
}

/** Calls `cb(0, value)` or `cb(-errno)`. */
function reply<T>(work: () => Promise<T>, cb: Cb<T>): void {
  work().then(
    (v) => cb(0, v),
    (err: unknown) => cb(toErrno(err)),
  );
}

/** read/write reply with a byte count or a negative errno in the same slot. */
function replyCount(work: () => Promise<number>, cb: (n: number) => void): void {
  work().then(cb, (err: unknown) => cb(toErrno(err)));
}


/**
 * The fuse-native handler table over a layer. With `caller` (a mount other users may use), each
 * request runs as its caller's (see `caller.ts`).
 */
export function fuseOps(l: FsLayer, caller?: () => Caller): FuseOps {
  const ops = table(l);
  if (!caller) return ops;
  return Object.fromEntries(
    Object.entries(ops).map(([name, op]) => [name, (...args: unknown[]) => withCaller(caller(), () => (op as (...a: unknown[]) => void)(...args))]),
  ) as unknown as FuseOps;
}

function table(l: FsLayer): FuseOps {
  return {
    getattr: (p, cb) => reply(async () => toFuseStat(await l.getattr(p)), cb),
    readdir: (p, cb) => reply(() => l.readdir(p), cb),
    open: (p, flags, cb) => reply(() => l.open(p, flags), cb),
    create: (p, mode, cb) => reply(() => l.create(p, mode), cb),
    read: (p, fd, buf, len, pos, cb) => replyCount(() => l.read(p, fd, buf, len, pos), cb),
    write: (p, fd, buf, len, pos, cb) => replyCount(() => l.write(p, fd, buf, len, pos), cb),
    flush: (p, fd, cb) => reply(() => l.flush(p, fd), cb),
    release: (p, fd, cb) => reply(() => l.release(p, fd), cb),
    fsync: (p, datasync, fd, cb) => reply(() => l.fsync(p, fd, datasync !== 0), cb),
    truncate: (p, size, cb) => reply(() => l.truncate(p, size), cb),
    ftruncate: (p, fd, size, cb) => reply(() => l.ftruncate(p, fd, size), cb),
    mkdir: (p, mode, cb) => reply(() => l.mkdir(p, mode), cb),
    rmdir: (p, cb) => reply(() => l.rmdir(p), cb),
    unlink: (p, cb) => reply(() => l.unlink(p), cb),
    rename: (src, dest, cb) => reply(() => l.rename(src, dest), cb),
    symlink: (target, p, cb) => reply(() => l.symlink(target, p), cb),
    mknod: (p, mode, dev, cb) => reply(() => l.mknod(p, mode, dev), cb),
    readlink: (p, cb) => reply(() => l.readlink(p), cb),
    link: (existing, p, cb) => reply(() => l.link(existing, p), cb),
    chmod: (p, mode, cb) => reply(() => l.chmod(p, mode), cb),
    chown: (p, uid, gid, cb) => reply(() => l.chown(p, uid, gid), cb),
    utimens: (p, atime, mtime, cb) => reply(() => l.utimens(p, atime, mtime), cb),
    statfs: (p, cb) => reply(async () => {
      const s = await l.statfs(p);
      return { ...s, frsize: s.bsize, favail: s.ffree };
    }, cb),
    access: (p, mode, cb) => reply(() => l.access(p, mode), cb),
    getxattr: (p, name, _position, cb) => reply(() => l.getxattr(p, name), cb),
    listxattr: (p, cb) => reply(() => l.listxattr(p), cb),
    // the value is libfuse's memory, valid until the reply: copied before anything is awaited
    setxattr: (p, name, value, _position, flags, cb) => reply(() => l.setxattr(p, name, Buffer.from(value), flags), cb),
    removexattr: (p, name, cb) => reply(() => l.removexattr(p, name), cb),
  };
}

/** Mounts `layer` at `mountpoint`. Throws `IO` when FUSE refuses (no /dev/fuse, busy mountpoint). */
export async function mountLayer(layer: FsLayer, mountpoint: string, opts: MountOptions = {}): Promise<Mounted> {
  // The kernel applied the caller's umask to every mode it sends: this process applies none.
  process.umask(0);
  const Fuse = loadFuse();
  const fuse = new Fuse(mountpoint, fuseOps(layer, opts.allowOther ? () => Fuse.caller() : undefined), {
    force: true,
    debug: opts.debug ?? false,
    allowOther: opts.allowOther ?? false,
    // Other users' calls run with this process's credentials: let the kernel check their permissions.
    defaultPermissions: opts.allowOther ?? false,
    fsname: opts.fsname ?? "intermezzo",
    subtype: "intermezzo",
    maxRead: 131072,
    options: EXTRA_OPTIONS,
    timeout: false,
  });
  await new Promise<void>((resolve, reject) =>
    fuse.mount((err) => (err ? reject(new ImzError("IO", `cannot mount at ${mountpoint}: ${err.message}`, {
      hint: "check that /dev/fuse exists, the mountpoint is an empty directory and nothing is mounted there",
      cause: err,
    })) : resolve())),
  );
  return {
    mountpoint,
    unmount: () => new Promise<void>((resolve, reject) => fuse.unmount((err) => (err ? reject(err) : resolve()))),
  };
}

function loadFuse(): FuseClass {
  try {
    return createRequire(import.meta.url)(FUSE_NATIVE_DIR) as FuseClass;
  } catch (err) {
    throw new ImzError("UNSUPPORTED", `the FUSE binding is not built (${(err as Error).message})`, {
      hint: "run 'bash scripts/build-fuse.sh' (part of 'npm run setup'); it needs libfuse2 and build-essential",
      cause: err,
    });
  }
}

/** Unmounts whatever FUSE file system is at `mountpoint` (`fusermount -u`). */
export async function fusermountU(mountpoint: string): Promise<void> {
  try {
    await promisify(execFile)("fusermount", ["-u", mountpoint]);
  } catch (err) {
    throw new ImzError("IO", `cannot unmount ${mountpoint}: ${(err as { stderr?: string }).stderr?.trim() || String(err)}`, {
      hint: "close the programs using it (fuser -m MOUNTPOINT), or unmount lazily with 'fusermount -uz'",
      cause: err,
    });
  }
}
