/**
 * Keeping losing versions: before a file is replaced or deleted by a change its holder never agreed
 * to (a `--mirror` revert, a conflict resolved against it), its content is copied under
 * `.intermezzo/conflicts/<UTC time>-<fid>/<name>` with a `record.json` beside it, and the event is
 * appended to `.intermezzo/conflicts.log` (JSON lines). Nothing is ever silently destroyed.
 */
import fs from "node:fs";
import path from "node:path";
import { META_DIR, type FileSet } from "../journal/fileset.js";
import type { FsObject } from "../journal/fsdb.js";

/** What a conflict log line records. */
export interface KeptVersion {
  time: string;
  path: string;
  fid: string;
  version: string;
  hash: string;
  reason: string;
  /** Where the copy lives, relative to the file set root. */
  stored: string;
}

/** Copies the current content of file object `o` (at absolute `file`) aside; returns the log entry. */
export function keepVersion(set: FileSet, o: FsObject, file: string, relPath: string, reason: string): KeptVersion {
  const time = new Date().toISOString();
  const dir = path.join(set.conflictsDir, `${time.replace(/[:.]/g, "-")}-${o.fid.replace(":", "-")}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const dest = path.join(dir, o.name || "root");
  if (o.type === "f") fs.copyFileSync(file, dest);
  else if (o.type === "l") fs.writeFileSync(dest + ".symlink", o.target ?? "");
  const entry: KeptVersion = {
    time,
    path: relPath,
    fid: o.fid,
    version: o.version,
    hash: o.hash,
    reason,
    stored: path.relative(set.root, o.type === "l" ? dest + ".symlink" : dest),
  };
  fs.writeFileSync(path.join(dir, "record.json"), JSON.stringify(entry, null, 2) + "\n");
  fs.appendFileSync(path.join(set.root, META_DIR, "conflicts.log"), JSON.stringify(entry) + "\n");
  return entry;
}
