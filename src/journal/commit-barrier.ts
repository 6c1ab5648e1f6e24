/**
 * The reader's side of a filter's group commit. A mount (another process) keeps its last
 * milliseconds of records in an open write transaction (`src/filter/presto-support.ts` `Batch`), so
 * a program that returned through the mount may have records nobody else can read yet. Whoever
 * opens the file set to read its journal (a sync, a scan, `status`) first waits here until every
 * write transaction open at that moment has ended: then it sees everything any program did before.
 *
 * How, without talking to the mount: SQLite allows one writer. If the write lock is free, no batch is
 * open. If it is held, the holder's transaction ends either by a commit, which changes the database's
 * `data_version` as seen from this connection (and is the first commit possible after this call
 * began, the lock being held), or by a rollback or the holder's death, which frees the lock. Polling
 * both never needs the lock at a free moment, so a busy mount that begins its next batch at once
 * cannot starve the reader. The wait is the mount's commit delay (10–20 ms, see `BATCH_TIMING`).
 */
import { ImzError } from "../errors.js";
import type { Db } from "./db.js";

/** How long to wait for an open write transaction before giving up (`LOCKED`). */
export const BARRIER_TIMEOUT_MS = 30_000;
/** Pause between two looks. */
const POLL_MS = 2;

/**
 * Returns once every write transaction open on `db`'s database when it was called has ended.
 * Throws `LOCKED` after `timeoutMs` (a mount process stopped in the middle of a batch).
 * `db` must not be inside a transaction of its own.
 */
export function awaitOpenWriters(db: Db, timeoutMs = BARRIER_TIMEOUT_MS): void {
  const before = dataVersion(db);
  const deadline = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!writeLockFree(db)) {
    if (dataVersion(db) !== before) return;
    if (Date.now() > deadline) {
      throw new ImzError("LOCKED", `another process (a mount?) has held the file set's journal open for ${timeoutMs / 1000} s`, {
        hint: "check that the 'intermezzo mount' process of this file set is running (not stopped), then retry",
      });
    }
    Atomics.wait(pause, 0, 0, POLL_MS);
  }
}

function dataVersion(db: Db): number {
  return db.pragma("data_version", { simple: true }) as number;
}

/** True when this connection could take the write lock at once (it takes and releases it). */
function writeLockFree(db: Db): boolean {
  const timeout = db.pragma("busy_timeout", { simple: true }) as number;
  db.pragma("busy_timeout = 0");
  try {
    db.exec("BEGIN IMMEDIATE");
    db.exec("ROLLBACK");
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "SQLITE_BUSY") return false;
    throw err;
  } finally {
    db.pragma(`busy_timeout = ${timeout}`);
  }
}
