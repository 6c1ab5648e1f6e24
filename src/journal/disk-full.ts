/**
 * A full disk as one coded error: `DISK_FULL` with the path it concerns, for an `ENOSPC`/`EDQUOT`
 * from a write, and for SQLite's `SQLITE_FULL` ("database or disk is full") or an I/O error while
 * the database's filesystem has no space left (its shared-memory file cannot grow). SQLite names no
 * file: of the databases this process opened, the one whose filesystem has the least space left is it.
 */
import fs from "node:fs";
import { ImzError } from "../errors.js";
import { databasePaths } from "./db.js";

const HINT = "free space on that filesystem and rerun; nothing was torn (the journal keeps what was not acknowledged)";

/**
 * `err` as `DISK_FULL` when it is a full disk, naming `where` (or else the path the error names,
 * unless that is a `/proc/self/fd/N/…` path, which says nothing to a person), else `err` itself.
 */
export function diskFullError(err: unknown, where?: string): unknown {
  if (err instanceof ImzError) return err;
  const e = err as { code?: unknown; path?: unknown; message?: unknown } | null;
  if (e?.code === "ENOSPC" || e?.code === "EDQUOT") {
    const p = where ?? (typeof e.path === "string" && e.path !== "" && !e.path.startsWith("/proc/self/fd/") ? e.path : undefined);
    return new ImzError("DISK_FULL", `no space left on the device${e.code === "EDQUOT" ? " (disk quota)" : ""}`, { hint: HINT, cause: err, ...(p ? { path: p } : {}) });
  }
  if (e?.code === "SQLITE_FULL" || (typeof e?.code === "string" && e.code.startsWith("SQLITE_IOERR"))) {
    const db = fullest(databasePaths());
    if (e.code !== "SQLITE_FULL" && (db === undefined || db.free > 0)) return err;
    return new ImzError("DISK_FULL", `the file set database cannot grow: database or disk is full`, { hint: HINT, cause: err, ...(db ? { path: db.path } : {}) });
  }
  return err;
}

/** The path whose filesystem has the fewest bytes available, and how many. */
function fullest(paths: string[]): { path: string; free: number } | undefined {
  let best: { path: string; free: number } | undefined;
  for (const p of paths) {
    try {
      const st = fs.statfsSync(p);
      const free = st.bavail * st.bsize;
      if (!best || free < best.free) best = { path: p, free };
    } catch {
      // gone meanwhile: not the one
    }
  }
  return best;
}
