/**
 * Settling a conflict by hand (`intermezzo resolve DIR PATH --keep ...`): the chosen version is
 * written into the tree as an ordinary local change, journaled by a scan, so it replicates on the
 * next sync like any other update; the entry is marked resolved in the conflict log.
 *
 * A file set stores the version that lost *on that host*: a replica keeps its own losing versions
 * (`kept: "client"`), the holder the versions a replica's winning change replaced (`kept: "server"`).
 * So `--keep` naming the stored side brings it back; naming the other side keeps what is visible.
 */
import fs from "node:fs";
import path from "node:path";
import { ImzError } from "../errors.js";
import { scan } from "../filter/scanner.js";
import type { FileSet } from "../journal/fileset.js";
import { checkRelPath } from "../sync/holding.js";
import { conflictName } from "./naming.js";
import { logResolution, readConflicts, type ConflictEntry } from "./store.js";

/** What to keep: a side, both, or the content of a file the user merged by hand. */
export type KeepChoice = { side: "server" | "client" | "both" } | { file: string };

/** What {@link settleConflict} did. */
export interface Settled {
  entry: ConflictEntry;
  /** The path written (relative to the root), or none when the visible version was kept. */
  wrote?: string;
  removed?: string;
  journaled: number;
}

/** The latest unresolved entry for `relPath`, or throws `CONFLICT_UNKNOWN`. */
export function findConflict(set: FileSet, relPath: string): ConflictEntry {
  const entry = readConflicts(set).findLast((e) => e.path === relPath && e.status !== "resolved");
  if (!entry) {
    throw new ImzError("CONFLICT_UNKNOWN", `no unresolved conflict at ${relPath} in ${set.root}`, {
      hint: `'intermezzo conflicts ${set.root}' lists them; a version stored on the other host is resolved there`,
    });
  }
  return entry;
}

/** Settles the conflict at `relPath` as `keep` says. */
export async function settleConflict(set: FileSet, relPath: string, keep: KeepChoice): Promise<Settled> {
  try {
    checkRelPath(relPath);
  } catch (err) {
    throw new ImzError("USAGE", `${JSON.stringify(relPath)} is not a path inside the file set`, { hint: "give PATH relative to DIR, as 'intermezzo conflicts DIR' lists it", cause: err });
  }
  const entry = findConflict(set, relPath);
  const target = path.join(set.root, relPath);
  const out: Settled = { entry, journaled: 0 };
  if ("file" in keep) {
    writeVersion(target, { file: path.resolve(keep.file) });
    out.wrote = relPath;
  } else if (keep.side === "both") {
    const stored = storedVersion(set, entry);
    if (!stored) throw new ImzError("USAGE", `the conflict at ${relPath} has no stored version to keep beside it`, { hint: "use --keep server or --keep client" });
    const aside = path.join(path.dirname(relPath), conflictName(path.basename(relPath), entry.replica ?? "local", new Date(entry.time)));
    writeVersion(path.join(set.root, aside), stored);
    out.wrote = aside;
  } else if (keep.side === entry.kept) {
    writeVersion(target, storedVersion(set, entry)!);
    out.wrote = relPath;
  } else if (entry.kept === undefined && keep.side === "client" && entry.client === null) {
    fs.rmSync(target, { recursive: true, force: true }); // the replica's version was a deletion
    out.removed = relPath;
  } else if (keep.side !== visibleSide(entry)) {
    throw new ImzError("USAGE", `the ${keep.side}'s version of ${relPath} is not stored on this host`, {
      hint: "run 'intermezzo resolve' on the host that stored it, or use --keep FILE with that content",
    });
  }
  if (out.wrote !== undefined || out.removed !== undefined) out.journaled = (await scan(set)).records;
  const resolvedAs = "file" in keep ? `file:${path.resolve(keep.file)}` : keep.side;
  out.entry = { ...entry, ...logResolution(set, entry.id, resolvedAs) };
  return out;
}

/** Which side's version the tree shows: the one not stored here, else the policy's winner. */
function visibleSide(e: ConflictEntry): "server" | "client" | undefined {
  if (e.kept) return e.kept === "client" ? "server" : "client";
  return e.winner === "both" ? undefined : e.winner;
}

type Source = { file: string } | { symlink: string };

/** The stored copy of an entry, if it has one. */
function storedVersion(set: FileSet, e: ConflictEntry): Source | undefined {
  if (!e.stored) return undefined;
  const abs = path.join(set.root, e.stored);
  if (!fs.existsSync(abs)) {
    throw new ImzError("IO", `the stored version ${e.stored} is missing`, { hint: "it was removed from .intermezzo/conflicts/ by hand", path: abs });
  }
  return e.stored.endsWith(".symlink") ? { symlink: fs.readFileSync(abs, "utf8") } : { file: abs };
}

/** Writes a version at `dest` atomically (temp file beside it, then rename), replacing what is there. */
function writeVersion(dest: string, src: Source): void {
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.imz-resolve-${process.pid}`);
  if ("file" in src) {
    if (!fs.statSync(src.file).isFile()) throw new ImzError("USAGE", `${src.file} is not a regular file`, { hint: "--keep FILE takes the file whose content to keep" });
    fs.copyFileSync(src.file, tmp);
  } else fs.symlinkSync(src.symlink, tmp);
  const old = fs.lstatSync(dest, { throwIfNoEntry: false });
  if (old?.isDirectory()) throw new ImzError("USAGE", `${dest} is a directory now`, { hint: "move it away first, or keep the version beside it with --keep both" });
  fs.renameSync(tmp, dest);
}
