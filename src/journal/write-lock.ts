/**
 * The holder's short-held write lock: one writer at a time changes a file set's tree, Fsdb and
 * server log (a scan, one reintegration batch, a conflict's restore), while any number of readers
 * (`updates`, `fetch`, `getattr`, signatures) go on beside it. It is taken per operation, never for
 * a whole connection, so many replicas are served at once.
 *
 * Two layers: an in-process queue per file set (the connections one `serve --listen` process
 * serves), and a lock file under `.intermezzo/` created with `O_EXCL` for other processes (several
 * `intermezzo-sync` runs against one local holder). A lock file left by a dead process on this host
 * is taken over. Waiting is FIFO within a process and polled with a short backoff across processes.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ImzError } from "../errors.js";
import { META_DIR, type FileSet } from "./fileset.js";
import { createLockFile, isAlive, olderThan } from "./lock-file.js";

/** What the lock is taken for: a file set, or the root of one being made (its `.intermezzo/` is created). */
export type Locked = Pick<FileSet, "root">;

/** Name of the lock file inside `.intermezzo/`. */
export const WRITE_LOCK = "write.lock";

/** Longest a writer waits for another process before giving up (a stuck writer, not a busy one). */
const WAIT_LIMIT_MS = 10 * 60_000;

/** Age after which a lock file with no readable owner is taken for stale. */
const STALE_UNREADABLE_MS = 2000;

/** In-process tail of each file set's queue of writers, by root. */
const queues = new Map<string, Promise<void>>();

/**
 * Runs `fn` holding the write lock of `set`'s file set. Releases it however `fn` ends. Throws
 * `LOCKED` if another process keeps it for longer than ten minutes.
 */
export async function withWriteLock<T>(set: Locked, fn: () => Promise<T> | T): Promise<T> {
  const release = await acquireWriteLock(set);
  try {
    return await fn();
  } finally {
    release();
  }
}

/**
 * Takes the write lock of `set`'s file set and returns its release (call it once). Prefer
 * {@link withWriteLock}; this form is for a lock kept across calls (a dry run's open transaction).
 */
export async function acquireWriteLock(set: Locked): Promise<() => void> {
  const prev = queues.get(set.root) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((r) => (done = r));
  const tail = prev.then(() => mine);
  queues.set(set.root, tail);
  await prev;
  const leave = (): void => {
    done();
    if (queues.get(set.root) === tail) queues.delete(set.root);
  };
  let unlock: () => void;
  try {
    metaDir(set.root);
    unlock = await lockFile(path.join(set.root, META_DIR, WRITE_LOCK));
  } catch (err) {
    leave();
    throw err;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    unlock();
    leave();
  };
}

/** Makes `root/.intermezzo/` if needed — never `root` itself: a missing root is never created. */
function metaDir(root: string): void {
  try {
    fs.mkdirSync(path.join(root, META_DIR), { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    if (code === "ENOENT") throw new ImzError("ROOT_MISSING", `${root} does not exist`, { hint: "check the path; if it is a mount point, mount it first" });
    throw err;
  }
}

async function lockFile(file: string): Promise<() => void> {
  const started = Date.now();
  const body = JSON.stringify({ pid: process.pid, host: os.hostname(), time: new Date().toISOString() });
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    if (createLockFile(file, body)) return () => fs.rmSync(file, { force: true });
    const owner = readOwner(file);
    // A dead writer's lock, or one without an owner (left empty by a version that wrote it in
    // place and was killed halfway; a moment old, it may still be an older process writing it)
    if (owner === undefined ? olderThan(file, STALE_UNREADABLE_MS) : owner.host === os.hostname() && !isAlive(owner.pid)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (owner === undefined) {
      await sleep(wait);
      continue;
    }
    if (Date.now() - started > WAIT_LIMIT_MS) {
      throw new ImzError("LOCKED", `the file set's writer (pid ${owner.pid} on ${owner.host}) has held ${file} for over ten minutes`, {
        hint: "check that process; remove the lock file only if it is gone",
      });
    }
    await sleep(wait);
  }
}

function readOwner(file: string): { pid: number; host: string } | undefined {
  try {
    const o = JSON.parse(fs.readFileSync(file, "utf8")) as { pid?: unknown; host?: unknown };
    return typeof o.pid === "number" && typeof o.host === "string" ? { pid: o.pid, host: o.host } : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
