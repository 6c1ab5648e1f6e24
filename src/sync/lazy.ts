/**
 * Lazy replicas (the paper's sparse fetch): a replica made with `intermezzo replicate --lazy` holds
 * every name and attribute of its file set, but a regular file's data stays on the holder until
 * first use. Such a file is a *placeholder*: a sparse file of the right size and mtime whose Fsdb
 * row has the content's hash but no `HAS_DATA` flag. Presto's upcall replaces it with the real
 * content on first open (`upcall.ts`). Update notification never fetches content into a lazy
 * replica: a file changed on the holder becomes a placeholder again, as a Coda client drops the
 * data whose callback was broken, and is fetched again on next use.
 *
 * Invariant: a placeholder's bytes are never taken for the file's content — never hashed into a
 * record by the scanner, never served by backfetch, never a delta basis or a local copy source.
 */
import fs from "node:fs";
import type { Statement } from "better-sqlite3";
import type { Db } from "../journal/db.js";
import type { FileSet } from "../journal/fileset.js";
import { carriesContent, type JournalRecord } from "../journal/records.js";

/** Meta key: "1" for a lazy replica (new files arrive as placeholders). */
export const META_LAZY = "lazy";
/** Meta key: the holder as `replicate` reached it (absolute path, `[user@]host:path` or `imz://…`). */
export const META_HOLDER = "holder_endpoint";

/** Meta key: the SSH options `replicate` was given (JSON: identity files, remote command), reused by the mount. */
export const META_HOLDER_SSH = "holder_ssh";

/** SSH options recorded for a lazy replica's upcalls. */
export interface RecordedSsh {
  identityFiles?: string[];
  remoteCommand?: string;
}

/** The SSH options `replicate` recorded (none for a local holder or when none were given). */
export function recordedSsh(set: FileSet): RecordedSsh {
  const v = optionalMeta(set, META_HOLDER_SSH);
  return v ? (JSON.parse(v) as RecordedSsh) : {};
}

/** The meta lookup, prepared once per database (it runs once per record a sync applies). */
const metaLookups = new WeakMap<Db, Statement<[string], string>>();

/** A meta value, or `undefined` when the file set has none (older file sets lack these keys). */
export function optionalMeta(set: FileSet, key: string): string | undefined {
  let lookup = metaLookups.get(set.db);
  if (!lookup) metaLookups.set(set.db, (lookup = set.db.prepare<[string], string>(`SELECT value FROM meta WHERE key = ?`).pluck()));
  return lookup.get(key);
}

/** True for a lazy replica: file content is left on the holder until first use. */
export function isLazy(set: FileSet): boolean {
  return optionalMeta(set, META_LAZY) === "1";
}

/** Where this replica's holder lives, as `replicate` recorded it (undefined if never recorded). */
export function holderEndpoint(set: FileSet): string | undefined {
  return optionalMeta(set, META_HOLDER) || undefined;
}

/**
 * True when applying holder record `r` needs its content fetched now. On a lazy replica never:
 * a new or changed file becomes a placeholder of its new size (the paper's callback broken; the
 * data is fetched again on next use).
 */
export function fetchesContent(set: FileSet, r: JournalRecord): boolean {
  return carriesContent(r) && !isLazy(set);
}

/** Creates `file` as a placeholder: a sparse file of `size` bytes (no data blocks). */
export function writePlaceholder(file: string, size: number): void {
  const fd = fs.openSync(file, "wx", 0o600);
  try {
    fs.ftruncateSync(fd, size);
  } finally {
    fs.closeSync(fd);
  }
}
