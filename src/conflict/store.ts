/**
 * The conflict store: every version a conflict resolution or a `--mirror` revert replaces is copied
 * under `.intermezzo/conflicts/<UTC time>-<fid>/<name>` with a `record.json` beside it, and every
 * conflict is appended to `.intermezzo/conflicts.log` (JSON lines) before anything is destroyed.
 * Nothing is ever silently lost. The log is append-only: a later line with the same `id` (a
 * `resolve`) updates an entry's status, so readers fold lines by id.
 */
import fs from "node:fs";
import path from "node:path";
import { ImzError } from "../errors.js";
import { META_DIR, type FileSet } from "../journal/fileset.js";
import type { FsObject, ObjectType } from "../journal/fsdb.js";
import { displayName, nameBytes } from "../journal/names.js";
import { fdPath } from "../sync/beneath.js";
import type { Policy, Winner } from "./policy.js";
import { randomHex } from "../random-hex.js";

/** The conflict log's file name under `.intermezzo/`. */
export const CONFLICT_LOG = "conflicts.log";

/** One version of an object, as a conflict entry describes it. */
export interface VersionInfo {
  fid: string;
  version: string;
  type: ObjectType;
  size: number;
  mtimeNs: string;
  hash: string;
  target: string | null;
}

/**
 * A conflict (or a version kept on request), as logged. `open`: parked for `intermezzo resolve`;
 * `auto`: settled by a policy; `resolved`: settled by `intermezzo resolve`.
 */
export interface ConflictEntry {
  id: string;
  time: string;
  path: string;
  /** A conflict kind, or `kept` for a version replaced by an order (a `--mirror` revert, a winning replica). */
  kind: string;
  status: "open" | "auto" | "resolved";
  detail: string;
  policy?: Policy;
  winner?: Winner;
  /** The replica whose change conflicted, and the holder. */
  replica?: string;
  holder?: string;
  /** The replica's version (null: it deleted the object) and the holder's (null: it has none). */
  client?: VersionInfo | null;
  server?: VersionInfo | null;
  /** Whose version is stored here, and where (relative to the file set root). */
  kept?: "client" | "server";
  stored?: string;
  /** Keep-both: where the losing version stays visible. */
  aside?: string;
  /** `resolve`: what was kept, and when. */
  resolvedAs?: string;
  resolvedAt?: string;
}

/** The {@link VersionInfo} of an Fsdb object (null for none). */
export function versionInfo(o: FsObject | undefined): VersionInfo | null {
  if (!o) return null;
  return { fid: o.fid, version: o.version, type: o.type, size: o.size, mtimeNs: o.mtimeNs, hash: o.hash, target: o.target };
}

/** A new entry id. */
export function newEntryId(): string {
  return randomHex(8);
}

/**
 * Copies the current content of file or symlink `o` into the store (`open` opens the file, never
 * through a symlink; called for a regular file only); returns where, relative to the root. A directory is not stored (its entries are, one by one).
 */
export function storeVersion(set: FileSet, o: FsObject, open: () => number, time: string): string | undefined {
  if (o.type === "d") return undefined;
  set.wroteAside();
  const dir = path.join(set.conflictsDir, `${time.replace(/[:.]/g, "-")}-${o.fid.replace(":", "-")}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const dest = path.join(dir, displayName(o.name) || "root") + (o.type === "l" ? ".symlink" : "");
  if (o.type === "f") copyOpened(open(), dest);
  else fs.writeFileSync(dest, nameBytes(o.target ?? ""));
  return path.relative(set.root, dest);
}

/** Copies the open file `fd` to a new file `dest`, then closes `fd`. */
function copyOpened(fd: number, dest: string): void {
  try {
    fs.copyFileSync(fdPath(fd), dest, fs.constants.COPYFILE_FICLONE);
  } finally {
    fs.closeSync(fd);
  }
}

/** Appends `entry` to the conflict log (and beside its stored copy, when there is one). */
export function logConflict(set: FileSet, entry: ConflictEntry): void {
  set.wroteAside();
  if (entry.stored) fs.writeFileSync(path.join(set.root, path.dirname(entry.stored), "record.json"), JSON.stringify(entry, null, 2) + "\n");
  fs.appendFileSync(path.join(set.root, META_DIR, CONFLICT_LOG), JSON.stringify(entry) + "\n");
}

/** Marks entry `id` resolved by hand (`intermezzo resolve`): one more line, folded by {@link readConflicts}. */
export function logResolution(set: FileSet, id: string, resolvedAs: string): Pick<ConflictEntry, "status" | "resolvedAs" | "resolvedAt"> {
  const update = { status: "resolved" as const, resolvedAs, resolvedAt: new Date().toISOString() };
  fs.appendFileSync(path.join(set.root, META_DIR, CONFLICT_LOG), JSON.stringify({ id, ...update }) + "\n");
  return update;
}

/**
 * Keeps a version a change ordered by the replica is about to destroy (a `--mirror` revert, a
 * conflict the replica won): stores it and logs it as settled. Returns the entry.
 */
export function keepVersion(set: FileSet, o: FsObject, open: () => number, relPath: string, reason: string): ConflictEntry {
  const time = new Date().toISOString();
  const stored = storeVersion(set, o, open, time);
  const entry: ConflictEntry = {
    id: newEntryId(), time, path: relPath, kind: "kept", status: "auto", detail: reason,
    holder: set.replicaId, server: versionInfo(o), kept: "server", ...(stored ? { stored } : {}),
  };
  logConflict(set, entry);
  return entry;
}

/** Every entry of the conflict log, folded by id (later lines update earlier ones), oldest first. */
export function readConflicts(set: FileSet): ConflictEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(set.root, META_DIR, CONFLICT_LOG), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const byId = new Map<string, ConflictEntry>();
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let e: ConflictEntry;
    try {
      e = JSON.parse(line) as ConflictEntry;
    } catch {
      throw new ImzError("RECORD_INVALID", `${CONFLICT_LOG} line ${i + 1} is not JSON`, { hint: `inspect ${path.join(set.root, META_DIR, CONFLICT_LOG)}` });
    }
    if (typeof e.id !== "string") return; // a line from an older version, without ids: not settleable
    byId.set(e.id, { ...byId.get(e.id), ...e });
  });
  return [...byId.values()];
}
