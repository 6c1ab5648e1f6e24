/**
 * Who made a FUSE request, and running the holding location's system calls as that user. With
 * `--allow-other` other users' requests reach the mount process, which runs as root: an object it
 * creates would be root's (a user's own chmod then fails, and set-id bits on a root-owned file are
 * a hole). The adapter records each request's caller ({@link withCaller}); the passthrough runs the
 * calls that create or change an object with the caller's filesystem uid, gid and groups
 * ({@link asCaller}), so the kernel itself applies its rules: the owner, the group of a setgid
 * directory, set-id bits cleared on write, chown and chmod.
 *
 * The switch is per thread (raw `setfsuid`, `setfsgid`, `setgroups` in `native/posix.cc`) and
 * lasts one synchronous system call on the event loop's thread, so nothing else ever runs with it.
 * A call by path runs from the object's directory ({@link atAsCaller}): the caller need not be
 * able to search the holding location's own parent directories, only what the mount showed it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import path from "node:path";
import { binding } from "../sync/delta/native.js";
import { withPath } from "./long-path.js";

/** The process a request came from (libfuse's `fuse_context`). */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  /** The caller's umask (the kernel has applied it to the modes it sends). */
  umask: number;
}

/** The addon's calls this module uses (`native/posix.cc`). */
interface PosixBinding {
  setFsIds(uid: number, gid: number, groups: number[]): void;
  mknod(path: string, mode: number, dev: number): void;
}

const store = new AsyncLocalStorage<Caller>();

/** The addon's POSIX calls. */
export function posix(): PosixBinding {
  return binding() as unknown as PosixBinding;
}

/** Runs `fn` (and everything it awaits) as a request of `caller`. */
export function withCaller<T>(caller: Caller | undefined, fn: () => T): T {
  return caller === undefined ? fn() : store.run(caller, fn);
}

/** The caller of the request being served, if recorded. */
export function currentCaller(): Caller | undefined {
  return store.getStore();
}

/**
 * Runs the synchronous system call `fn` with the current request's caller's filesystem ids, when
 * that is another user and this process may switch (root); otherwise as it is.
 */
export function asCaller<T>(fn: () => T): T {
  const c = switching();
  return c === undefined ? fn() : run(c, fn);
}

/**
 * Runs `fn` on absolute path `abs` as the current request's caller (see {@link asCaller}): from
 * `abs`'s directory, with its last name (the process's working directory is set for the one
 * synchronous call and restored), or on `abs` itself, however long, when no switch is needed.
 */
export function atAsCaller<T>(abs: string, fn: (p: string) => T): T {
  const c = switching();
  if (c === undefined) return withPath(abs, fn);
  const home = process.cwd();
  withPath(path.dirname(abs), (dir) => process.chdir(dir));
  try {
    return run(c, () => fn(path.basename(abs)));
  } finally {
    process.chdir(home);
  }
}

/** The caller to switch to: another user, with this process root. */
function switching(): Caller | undefined {
  const c = store.getStore();
  return c === undefined || process.geteuid?.() !== 0 || (c.uid === 0 && c.gid === 0) ? undefined : c;
}

function run<T>(c: Caller, fn: () => T): T {
  const p = posix();
  p.setFsIds(c.uid, c.gid, groupsOf(c));
  try {
    return fn();
  } finally {
    p.setFsIds(0, 0, process.getgroups?.() ?? [0]);
  }
}

/** The caller's supplementary groups (from /proc), or its gid alone when it is gone. */
function groupsOf(c: Caller): number[] {
  try {
    const status = fs.readFileSync(`/proc/${c.pid}/status`, "utf8");
    const line = /^Groups:\s*(.*)$/m.exec(status)?.[1] ?? "";
    const groups = line.split(/\s+/).filter((g) => g !== "").map(Number);
    return groups.length > 0 ? groups : [c.gid];
  } catch {
    return [c.gid];
  }
}
