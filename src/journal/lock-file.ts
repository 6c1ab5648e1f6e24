/**
 * Lock files whose content is never seen half-written. `open(O_EXCL)` then `write` leaves an empty
 * lock file when the process is killed between the two (the crash test's SIGKILL landed there):
 * no owner to read, so no way to tell a stale lock from one being written, and the holder's write
 * lock waited on it for good. Here the owner is written to a private file first and linked into
 * place: the lock exists only with its content.
 */
import fs from "node:fs";
import path from "node:path";
import { randomHex } from "../random-hex.js";

/** Creates lock file `file` holding `body`; false when it already exists. */
export function createLockFile(file: string, body: string): boolean {
  sweepPrivate(file);
  const mine = `${file}.${process.pid}-${randomHex(4)}`;
  fs.writeFileSync(mine, body, { flag: "wx" });
  try {
    fs.linkSync(mine, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

/**
 * A private file lives for a link's time; one older than this whose pid does not run here is a
 * killed writer's. A younger one may be a live writer's in another pid namespace or on another host
 * sharing the file set (its pid means nothing here): removed, its link would fail.
 */
const PRIVATE_STALE_MS = 2000;

/**
 * Removes the private files of lock `file` left by processes killed between writing one and
 * removing it (`<file>.<pid>-<hex>` of a pid that no longer runs, a moment old).
 */
function sweepPrivate(file: string): void {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = name.startsWith(prefix) ? /^([0-9]+)-[0-9a-f]{8}$/.exec(name.slice(prefix.length)) : null;
    if (m && !isAlive(Number(m[1])) && olderThan(path.join(dir, name), PRIVATE_STALE_MS)) fs.rmSync(path.join(dir, name), { force: true });
  }
}

/** True when process `pid` exists on this host (signal 0; EPERM: it exists, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when lock file `file` was last written more than `ms` ago (or is gone). */
export function olderThan(file: string, ms: number): boolean {
  try {
    return Date.now() - fs.statSync(file).mtimeMs > ms;
  } catch {
    return true;
  }
}
