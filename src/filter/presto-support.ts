/**
 * Small pieces of the Presto filter: mount-path arithmetic, the serial queue that orders updates,
 * errno-named errors, and the record of a new object.
 */
import type fs from "node:fs";
import path from "node:path";
import { EMPTY_HASH } from "../journal/content-hash.js";
import type { Db } from "../journal/db.js";
import { META_DIR } from "../journal/fileset.js";
import type { Fsdb, FsObject, ObjectType } from "../journal/fsdb.js";
import { ROOT_FID, type NewRecord } from "../journal/records.js";
import { attrsOf } from "./object-stat.js";

/** Content hash of the empty file (a file just created). */
/** Names libfuse gives files unlinked while open; they are never journaled. */
export const FUSE_HIDDEN = /^\.fuse_hidden[0-9a-f]+$/;

/** An error carrying an errno name, as the passthrough's own errors do. */
export function errnoError(code: string, message = code): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** Runs async tasks one after another. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every task queued before it, whatever their outcome. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** When a filter's batch commits, besides its durability points (ms). */
export interface BatchTiming {
  /** When no journaling step followed for this long... */
  idleMs: number;
  /** ...or when the batch is this old, however busy the filter is. */
  maxMs: number;
}

/**
 * The filter's timing: a program's steps on one file (tar: create, write, chown, utimens, chmod,
 * close) usually fall in one batch, so they fold into one record; a crash loses at most 20 ms.
 */
export const BATCH_TIMING: BatchTiming = { idleMs: 10, maxMs: 20 };

/**
 * Group commit of the filter's journaling steps: they run (each as a savepoint) inside one write
 * transaction, committed when the filter goes idle, when the batch is too old (see
 * {@link BATCH_TIMING}), or at once on demand (a file's close, fsync, unmount). A crash loses at most that uncommitted tail, which
 * the recovery scan at the next attach journals again (the paper's suspects).
 */
export class Batch {
  private timer: NodeJS.Timeout | undefined;
  private started = 0;

  constructor(
    private readonly db: Db,
    /** The queue commits run in, so a commit never lands in the middle of a step. */
    private readonly queue: Serial,
    /** Called when the batch's records become visible to others (commit) or a step failed. */
    private readonly onEnd: () => void = () => undefined,
    private readonly timing: BatchTiming = BATCH_TIMING,
  ) {}

  /** Runs `fn` in the batch, beginning one if none is open. */
  run<T>(fn: () => T): T {
    if (!this.db.inTransaction) {
      this.db.exec("BEGIN IMMEDIATE");
      this.started = Date.now();
    }
    let out: T;
    try {
      out = this.db.transaction(fn)();
    } catch (err) {
      this.onEnd();
      throw err;
    }
    clearTimeout(this.timer);
    if (Date.now() - this.started >= this.timing.maxMs) this.commit();
    else this.timer = setTimeout(() => void this.queue.run(async () => this.commit()), this.timing.idleMs);
    return out;
  }

  /** Commits the open batch, if any. */
  commit(): void {
    clearTimeout(this.timer);
    if (this.db.inTransaction) this.db.exec("COMMIT");
    this.onEnd();
  }
}

/** True for `.intermezzo` and anything under it (mount paths). */
export function isMeta(mp: string): boolean {
  return mp === `/${META_DIR}` || mp.startsWith(`/${META_DIR}/`);
}

/** Root-relative path of a mount path (`/a/b` → `a/b`, `/` → ``). */
export function rel(mp: string): string {
  return mp.replace(/^\/+/, "");
}

/** The parent of a root-relative path ("" for the root's entries). */
export function parentOf(r: string): string {
  const d = path.posix.dirname(r);
  return d === "." ? "" : d;
}

/**
 * The record of a new object: `create` (empty content), `mkdir`, `symlink` (`target`: the link's
 * target) or `mknod` (`target`: the special file's kind, see `specialOf`).
 */
export function newRecord(type: ObjectType, placed: { fid: string; time: number; parent: string; name: string }, st: fs.BigIntStats, target: string | null): NewRecord {
  const attrs = attrsOf(st);
  switch (type) {
    case "f":
      return { op: "create", ...placed, attrs, content: { size: Number(st.size), mtimeNs: attrs.mtimeNs, hash: EMPTY_HASH } };
    case "d":
      return { op: "mkdir", ...placed, attrs };
    case "l":
      return { op: "symlink", ...placed, target: target!, attrs };
    case "s":
      return { op: "mknod", ...placed, special: target!, attrs };
  }
}

/** The Fsdb object at root-relative path `r`, walking names from the root (fids only until the last). */
export function objectAt(fsdb: Fsdb, r: string): FsObject | undefined {
  if (r === "") return fsdb.get(ROOT_FID);
  const names = r.split("/");
  let fid: string | undefined = ROOT_FID;
  for (let i = 0; i < names.length - 1 && fid !== undefined; i++) fid = fsdb.childFid(fid, names[i]!);
  return fid === undefined ? undefined : fsdb.child(fid, names[names.length - 1]!);
}
