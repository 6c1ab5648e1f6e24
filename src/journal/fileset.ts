/**
 * A file set on this host: its holding location (the root directory), and under
 * `<root>/.intermezzo/` its database (Fsdb, CML, server log, identity), temp and conflict areas,
 * and the lock that keeps two runs from overlapping. `.intermezzo/` itself is never replicated.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ImzError } from "../errors.js";
import { Cml } from "./cml.js";
import { awaitOpenWriters } from "./commit-barrier.js";
import { openDb, peekMeta, type Db } from "./db.js";
import { Fsdb } from "./fsdb.js";
import { createLockFile, isAlive } from "./lock-file.js";
import { Replicas } from "./replicas.js";
import { ServerLog } from "./server-log.js";
import { randomHex } from "../random-hex.js";

/** Name of the per-file-set metadata directory. */
export const META_DIR = ".intermezzo";
/** How many fid counters are reserved from the database at a time. */
const FID_BLOCK = 1024;
/** Roots where a connection of this process holds a group's write transaction open (see {@link FileSet.open}). */
const groupsOpenHere = new Map<string, number>();
/**
 * Changes an auto-committing group (the scanner's) commits at most (or after 200 ms): each commit
 * writes the pages its changes touched to the WAL, and consecutive groups touch the same pages
 * again. 512 cost a first copy's scan of 30,000 files about 90 ms more than this (paired runs).
 */
const GROUP_CHANGES = 4096;
/** Name of the database file inside {@link META_DIR}. */
export const DB_FILE = "fileset.db";

/** What a filter records in `filter_events`: attached, detached, lost track (suspect), rescanned. */
export type FilterEventKind = "attach" | "detach" | "suspect" | "rescan";

/** A holder serves the file set (keeps the server log); a replica keeps a CML and reintegrates. */
export type Role = "holder" | "replica";

/** Options for {@link FileSet.init}. */
export interface InitOptions {
  name?: string;
  role?: Role;
  /** Join an existing file set (a replica's first sync) instead of minting a new id. */
  filesetId?: string;
  /** The holder's replica id, for a replica. */
  holderReplica?: string;
}

/** An open file set. Close it when done. */
export class FileSet {
  readonly fsdb: Fsdb;
  readonly cml: Cml;
  readonly log: ServerLog;
  /** The replicas this file set's holder serves. */
  readonly replicas: Replicas;
  private readonly sGetMeta;
  private fidNext = 0;
  private grouping = false;
  private groupOpen = false;
  private groupCount = 0;
  private groupAuto = true;
  private groupStarted = 0;
  private fidLimit = 0;
  private readonly sSetMeta;
  private replicaIdCache: string | undefined;
  private roleCache: Role | undefined;
  private readonly closers: Array<() => void> = [];
  private asideWritten = false;
  /**
   * Runs a function in a transaction (a savepoint inside one): one wrapper for every call, as
   * better-sqlite3 builds a new one for each `db.transaction(fn)` (about 2% of a first copy).
   */
  private readonly atomically: (fn: () => unknown) => unknown;

  private constructor(
    /** Absolute path of the holding location. */
    readonly root: string,
    /** The open database. */
    readonly db: Db,
  ) {
    this.sGetMeta = db.prepare<[string], { value: string }>(`SELECT value FROM meta WHERE key = ?`);
    this.sSetMeta = db.prepare<[string, string]>(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`);
    this.atomically = db.transaction((fn: () => unknown) => fn());
    this.fsdb = new Fsdb(db);
    this.cml = new Cml(db, this.replicaId);
    this.log = new ServerLog(db);
    this.replicas = new Replicas(db);
  }

  /**
   * Notes that the conflict store or log (under `.intermezzo/`) was written: a holding's next flush
   * must be a `syncfs`, which covers those files too (`src/sync/flush-list.ts`).
   */
  wroteAside(): void {
    this.asideWritten = true;
  }

  /** Whether the conflict store or log was written since the last call (which starts a flush); clears the note. */
  tookAside(): boolean {
    const written = this.asideWritten;
    this.asideWritten = false;
    return written;
  }

  /** True when `root` holds a file set database. */
  static exists(root: string): boolean {
    return fs.existsSync(path.join(root, META_DIR, DB_FILE));
  }

  /**
   * Makes `root` a file set (creating its metadata, not touching its files) and opens it.
   * Throws `ROOT_MISSING` if `root` is not an existing directory.
   */
  static init(root: string, opts: InitOptions = {}): FileSet {
    const abs = checkRoot(root);
    if (FileSet.exists(abs)) {
      throw new ImzError("USAGE", `${abs} is already a file set`, { hint: "use it as it is, or remove its .intermezzo/ to start over" });
    }
    const meta = path.join(abs, META_DIR);
    fs.mkdirSync(path.join(meta, "tmp"), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(meta, "conflicts"), { recursive: true, mode: 0o700 });
    // Made complete under a temp name, then linked into place: another process never opens a file
    // set whose identity is not written yet (it sees no file set, or the whole one).
    const fresh = path.join(meta, `${DB_FILE}.new-${process.pid}-${randomHex(4)}`);
    const db = openDb(fresh, true);
    const replicaId = randomHex(6);
    const initial: Record<string, string> = {
      fileset_id: opts.filesetId ?? randomHex(8),
      replica_id: replicaId,
      name: opts.name ?? path.basename(abs),
      role: opts.role ?? "holder",
      holder_replica: opts.holderReplica ?? (opts.role === "replica" ? "" : replicaId),
      last_seen: "0",
      next_fid: "1",
      created: new Date().toISOString(),
    };
    const put = db.prepare<[string, string]>(`INSERT INTO meta (key, value) VALUES (?, ?)`);
    db.transaction(() => {
      for (const [k, v] of Object.entries(initial)) put.run(k, v);
    })();
    const st = fs.statSync(abs, { bigint: true });
    new Fsdb(db).ensureRoot(Number(st.mode & 0o7777n), st.mtimeNs.toString(), inoKey(st));
    db.close(); // checkpoints: the whole database is in the one file
    try {
      fs.linkSync(fresh, path.join(meta, DB_FILE));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      throw new ImzError("USAGE", `${abs} became a file set while this one was being made`, { hint: "rerun: it is one now" });
    } finally {
      for (const f of [fresh, `${fresh}-wal`, `${fresh}-shm`]) fs.rmSync(f, { force: true });
    }
    return FileSet.open(abs);
  }

  /**
   * Opens the file set at `root`. Throws `ROOT_MISSING` when the directory is gone (an unmounted
   * disk must never look like an empty tree) and `NOT_A_FILESET` when it has no database. Returns
   * once a mount's open batch (another process) has committed: the journal read then holds every
   * update a program made through the mount before this call (`commit-barrier.ts`).
   */
  /**
   * The role of the file set at `root` (undefined when it is not one), read without opening it
   * (see `peekMeta`); a database this program cannot read is left to {@link FileSet.open} to refuse.
   */
  static roleAt(root: string): Role | undefined {
    if (!FileSet.exists(root)) return undefined;
    try {
      return peekMeta(path.join(root, META_DIR, DB_FILE), "role") as Role | undefined;
    } catch {
      // the full open says what is wrong (a newer schema, not a database...)
      const set = FileSet.open(root);
      try {
        return set.role;
      } finally {
        set.close();
      }
    }
  }

  static open(root: string): FileSet {
    const abs = checkRoot(root);
    if (!FileSet.exists(abs)) {
      throw new ImzError("NOT_A_FILESET", `${abs} is not an intermezzo file set`, {
        hint: `run 'intermezzo init ${root}' (or sync into it) to make it one`,
      });
    }
    const db = openDb(path.join(abs, META_DIR, DB_FILE), false);
    // A group this process holds open (another connection to the same file set, awaiting I/O) would
    // never commit while the barrier blocks the event loop: it is our own, so there is nothing to wait for.
    if (!groupsOpenHere.get(abs)) awaitOpenWriters(db);
    fs.mkdirSync(path.join(abs, META_DIR, "tmp"), { recursive: true, mode: 0o700 });
    fs.mkdirSync(path.join(abs, META_DIR, "conflicts"), { recursive: true, mode: 0o700 });
    return new FileSet(abs, db);
  }

  /** A metadata value. */
  meta(key: string): string {
    const r = this.sGetMeta.get(key);
    if (!r) throw new ImzError("SCHEMA_VERSION", `file set metadata lacks '${key}'`);
    return r.value;
  }

  /** A metadata value that may be absent (a key later versions added), or `fallback`. */
  metaOr(key: string, fallback: string): string {
    return this.sGetMeta.get(key)?.value ?? fallback;
  }

  /** Sets a metadata value (inside the caller's transaction, if any). */
  setMeta(key: string, value: string): void {
    this.sSetMeta.run(key, value);
  }

  /** The file set's id, shared by every replica of it. */
  get filesetId(): string {
    return this.meta("fileset_id");
  }

  /** This copy's replica id; prefixes the fids it allocates. Never changes (read once). */
  get replicaId(): string {
    return (this.replicaIdCache ??= this.meta("replica_id"));
  }

  /** Whether this copy is the holder (server) or a replica (client). Never changes (read once). */
  get role(): Role {
    return (this.roleCache ??= this.meta("role") as Role);
  }

  /** Human name of the file set. */
  get name(): string {
    return this.meta("name");
  }

  /**
   * Allocates a new fid, never reused. Counters are reserved from the database in blocks, so a
   * crash can leave gaps but never hand out a counter twice.
   */
  allocFid(): string {
    if (this.fidNext >= this.fidLimit) {
      const n = Number(this.meta("next_fid"));
      this.setMeta("next_fid", String(n + FID_BLOCK));
      this.fidNext = n;
      this.fidLimit = n + FID_BLOCK;
    }
    return `${this.replicaId}:${this.fidNext++}`;
  }

  /**
   * Runs `fn` in one database transaction. Inside a group (see {@link FileSet.startGroup}) it is a
   * savepoint of the group's transaction, which commits every {@link GROUP_CHANGES} changes or 200 ms;
   * `fn` counts as `changes` of them (several records written together count as theirs).
   */
  transaction<T>(fn: () => T, changes = 1): T {
    if (!this.grouping) return this.atomically(fn) as T;
    if (!this.db.inTransaction) {
      this.db.exec("BEGIN");
      groupsOpenHere.set(this.root, (groupsOpenHere.get(this.root) ?? 0) + 1);
      this.groupOpen = true;
      this.groupCount = 0;
      this.groupStarted = Date.now();
    }
    const result = this.atomically(fn) as T;
    if (this.groupAuto && ((this.groupCount += changes) >= GROUP_CHANGES || Date.now() - this.groupStarted > 200)) this.commitGroup();
    return result;
  }

  /**
   * Runs `fn`, which only reads, in one read transaction (or in the caller's open transaction): one
   * snapshot, and one take and release of the WAL index's read lock, for all its statements. Alone,
   * each statement is a transaction of its own, with two `fcntl` calls and the WAL header checked.
   * `fn` must be synchronous: an open read transaction would turn the next group's `BEGIN` into a savepoint.
   */
  reading<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    this.db.exec("BEGIN");
    try {
      return fn();
    } finally {
      if (this.db.inTransaction) this.db.exec("COMMIT");
    }
  }

  /**
   * Starts grouping transactions (group commit): a bulk operation's many small changes commit
   * together. Each change is still all-or-nothing; a crash loses at most the uncommitted group,
   * whose disk effects the next scan finds again. No-op inside an outer transaction (a dry run).
   * With `autoCommit` false the group commits only when told ({@link FileSet.commitGroup}): a
   * replay commits after its batch is flushed to disk, never before.
   */
  startGroup(autoCommit = true): void {
    if (this.db.inTransaction) return;
    this.grouping = true;
    this.groupAuto = autoCommit;
  }

  /** Commits the open group, if any. */
  commitGroup(): void {
    if (this.groupOpen && this.db.inTransaction) this.db.exec("COMMIT");
    this.closedGroup();
  }

  /** The group is no longer open (committed, rolled back, or its connection closed). */
  private closedGroup(): void {
    if (this.groupOpen) groupsOpenHere.set(this.root, (groupsOpenHere.get(this.root) ?? 1) - 1);
    this.groupOpen = false;
  }

  /**
   * Rolls the open group back and stops grouping: after a failed batch whose disk effects may not
   * be durable, the Fsdb must not claim them (the next scan finds what did land; retries are
   * recognised as identical).
   */
  abortGroup(): void {
    if (this.groupOpen && this.db.inTransaction) this.db.exec("ROLLBACK");
    this.closedGroup();
    this.grouping = false;
  }

  /** Commits the open group and stops grouping. */
  endGroup(): void {
    this.commitGroup();
    this.grouping = false;
  }

  /** Directory for temp files: same filesystem as the tree, invisible to users and scanners. */
  get tmpDir(): string {
    return path.join(this.root, META_DIR, "tmp");
  }

  /** Directory where losing conflict versions are kept. */
  get conflictsDir(): string {
    return path.join(this.root, META_DIR, "conflicts");
  }

  /**
   * Takes the file set's lock so two runs never overlap (cron). A lock left by a dead process is
   * taken over. Returns the release function. Throws `LOCKED` when a live process holds it.
   */
  lock(what: string): () => void {
    const file = path.join(this.root, META_DIR, "lock");
    for (let attempt = 0; attempt < 2; attempt++) {
      if (createLockFile(file, JSON.stringify({ pid: process.pid, host: os.hostname(), what, time: new Date().toISOString() }))) {
        return () => fs.rmSync(file, { force: true });
      }
      const holder = readLock(file);
      if (holder && holder.host === os.hostname() && isAlive(holder.pid)) {
        throw new ImzError("LOCKED", `file set ${this.root} is in use by pid ${holder.pid} (${holder.what})`, {
          hint: "wait for that run to finish; a cron job should not start a sync while one is running",
        });
      }
      fs.rmSync(file, { force: true });
    }
    throw new ImzError("LOCKED", `could not take the lock of ${this.root}`);
  }

  /**
   * Removes temp files a killed run left behind: those whose process (`t-<pid>-…`) is gone. A live
   * process's files stay — a holder serves several replicas at once, from several processes.
   */
  cleanTemp(): void {
    for (const name of fs.readdirSync(this.tmpDir)) {
      if (name.startsWith(UNDO_PREFIX)) continue; // only their recovery removes them (sync/in-place.ts)
      const pid = /^[a-z]+-([0-9]+)-/.exec(name)?.[1];
      if (pid !== undefined && isAlive(Number(pid))) continue;
      fs.rmSync(path.join(this.tmpDir, name), { force: true, recursive: true });
    }
  }

  /**
   * Records a filter event (`filter_events`) with this process as its owner. A filter records
   * `attach` after its recovery scan, `detach` on a clean unmount, `suspect` when it could not
   * journal an update, and `rescan` after the scan that settled the suspects.
   */
  filterEvent(kind: FilterEventKind, detail: Record<string, unknown> = {}): void {
    this.db
      .prepare<[number, string, string]>(`INSERT INTO filter_events (time, kind, detail) VALUES (?, ?, ?)`)
      .run(Date.now(), kind, JSON.stringify({ ...detail, pid: process.pid, host: os.hostname() }));
  }

  /**
   * True when a live filter on this host has journaled every update since the last scan: the
   * newest filter event is its `attach` or `rescan`, and its process is alive. A crash (attach
   * without detach), an unmount, or an update it could not journal all make this false, and the
   * next sync scans.
   */
  isContinuouslyFiltered(): boolean {
    const last = this.db
      .prepare<[], { kind: string; detail: string | null }>(`SELECT kind, detail FROM filter_events ORDER BY id DESC LIMIT 1`)
      .get();
    if (!last || (last.kind !== "attach" && last.kind !== "rescan")) return false;
    try {
      const d = JSON.parse(last.detail ?? "{}") as { pid?: unknown; host?: unknown };
      return typeof d.pid === "number" && d.host === os.hostname() && isAlive(d.pid);
    } catch {
      return false;
    }
  }

  /** Commits any open group and closes the database. */
  /** Runs `fn` when the file set is closed (to release what was opened for it). */
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  close(): void {
    for (const fn of this.closers.splice(0)) fn();
    if (this.db.open) this.endGroup();
    if (this.db.open) this.db.close();
    this.closedGroup();
  }
}

/** `dev:ino` of a stat result: the scanner's key for recognising renames and hard links. */
export function inoKey(st: Pick<fs.BigIntStats, "dev" | "ino">): string {
  return `${st.dev}:${st.ino}`;
}

function checkRoot(root: string): string {
  const abs = path.resolve(root);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new ImzError("ROOT_MISSING", `${abs} does not exist`, {
      hint: "check the path; if it is a mount point, mount it first (an absent root is never synced as empty); for a new copy, create the directory first",
    });
  }
  if (!st.isDirectory()) throw new ImzError("ROOT_MISSING", `${abs} is not a directory`, { hint: "a file set root must be a directory" });
  return abs;
}

function readLock(file: string): { pid: number; host: string; what: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as { pid: number; host: string; what: string };
  } catch {
    return undefined;
  }
}

/** Name prefix of the temp area's undo files of in-place changes (`sync/in-place.ts`), which {@link FileSet.cleanTemp} leaves. */
export const UNDO_PREFIX = "undo-";
