/**
 * What a scan journals about one known object, and how it reports: the content and attribute
 * changes of an object at its (unchanged or just renamed) place — both scanner passes (`scanner.ts`,
 * `scan-resolve.ts`) and the Presto filter's own closes and setattrs (`presto.ts`) record them here —
 * the scan's shared state, its per-path problems and its mass-deletion refusal. A module of its own
 * so that the two passes, and the filter, share it without importing one another in a circle.
 */
import { ImzError } from "../errors.js";
import { hashFileAsStated } from "../journal/content-hash.js";
import { inoKey, type FileSet } from "../journal/fileset.js";
import { HAS_DATA, isPlaceholder, type FsObject } from "../journal/fsdb.js";
import type { Journal } from "../journal/journal.js";
import { fsPath } from "../journal/names.js";
import type { CloseExtents, Content } from "../journal/records.js";
import { xattrsText, type Xattrs } from "../journal/xattrs.js";
import { changedAttrs, contentMayDiffer, isEmptyAttrs, localFields, type EntryStat, type Problem } from "./object-stat.js";
import { AT_FDCWD, readXattrs } from "./xattr-io.js";

/** What a scan did. */
export interface ScanReport {
  /** Records journaled. */
  records: number;
  /** Objects examined on disk. */
  examined: number;
  /** Bytes read to hash content. */
  hashedBytes: number;
  /** Paths skipped (special files, unreadable directories, vanished entries). */
  problems: Problem[];
}

/** Shared state of one scan, used by both passes. */
export interface ScanContext {
  set: FileSet;
  journal: Journal;
  report: ScanReport;
  /** See `ScanOptions.onContentChange` (`scanner.ts`). */
  onContentChange?: (fid: string, size: number) => void;
  hashAtSendFrom?: number;
  /** See `ScanOptions.newHashedAtSend` (`scanner.ts`). */
  newHashedAtSend?: () => Promise<boolean>;
  /** Compare and journal extended attributes (see `ScanOptions.xattrs`, `scanner.ts`). */
  xattrs: boolean;
  /** The written extents of a close about to be recorded (the filter's, `presto-extents.ts`). */
  closeExtents?: (obj: FsObject, content: Content) => CloseExtents | undefined;
}

/**
 * Journals the content and attribute changes of a known object at its (unchanged or just renamed)
 * place. Directories' own attributes are left to the end of the scan, after their entries changed.
 * With `force` the content is hashed even when size and mtime did not move (a filter that saw writes).
 * A placeholder (no `HAS_DATA`) is never journaled as content (see `settlePlaceholder`).
 */
export async function recordChanges(ctx: ScanContext, obj: FsObject, st: EntryStat, rel: string, force = false): Promise<void> {
  if (obj.type === "d") return;
  const xattrs = xattrsOnDisk(ctx, obj, st, rel);
  if (obj.type === "f" && (force || contentMayDiffer(obj, st))) {
    if (!isPlaceholder(obj)) ctx.onContentChange?.(obj.fid, Number(st.size));
    const atSend = !force && !isPlaceholder(obj) && Number(st.size) >= (ctx.hashAtSendFrom ?? Infinity);
    let hash = "";
    try {
      if (!atSend) hash = await hashFileAsStated(fsPath(ctx.set.root, rel), st);
    } catch (err) {
      problem(ctx, rel, err);
      return;
    }
    if (!atSend) ctx.report.hashedBytes += Number(st.size);
    if (isPlaceholder(obj)) return settlePlaceholder(ctx, obj, st, rel, hash);
    if (hash === obj.hash && Number(st.size) !== obj.size) {
      // the same content, and a row whose size is not its size: journaled before a hash was checked
      // against its stat (`hashFileAsStated`), it would fail every later check of the file for good
      ctx.set.fsdb.put({ ...obj, size: Number(st.size) });
      obj = ctx.set.fsdb.must(obj.fid);
    }
    if (atSend || hash !== obj.hash) {
      const content = { size: Number(st.size), mtimeNs: st.mtimeNs.toString(), hash };
      const { size, mtimeNs, ino } = localFields(st);
      const extents = ctx.closeExtents?.(obj, content);
      // Only what the close carries: a mode or owner changed as well is left for recordAttrs to see.
      ctx.journal.record({ op: "close", fid: obj.fid, time: Date.now(), base: obj.version, content, ...(extents ? { extents } : {}) }, () =>
        ctx.set.fsdb.put({ ...obj, size, mtimeNs, ino, ctimeNs: seenCtime(ctx, obj, st), hash }),
      );
      ctx.report.records++;
      obj = ctx.set.fsdb.must(obj.fid);
    }
  }
  recordAttrs(ctx, obj, st, xattrs);
}

/**
 * The object's replicated extended attributes as they are on disk, when the scan compares them: a
 * file or directory whose ctime moved (every change of an xattr or ACL moves it). Undefined when
 * not compared (`--no-xattrs`, another type, an unchanged ctime, or unreadable: a per-path problem).
 */
export function xattrsOnDisk(ctx: ScanContext, obj: Pick<FsObject, "type" | "ctimeNs">, st: EntryStat, rel: string): Xattrs | undefined {
  if (!ctx.xattrs || (obj.type !== "f" && obj.type !== "d") || obj.ctimeNs === st.ctimeNs.toString()) return undefined;
  try {
    return readXattrs(AT_FDCWD, fsPath(ctx.set.root, rel));
  } catch (err) {
    problem(ctx, rel, err);
    return undefined;
  }
}

/**
 * A lazy replica's placeholder whose size or mtime moved. Its bytes are never journaled as the
 * file's content: when they hash to the content the Fsdb expects, the data did arrive (a fetch cut
 * short before its flag was set) and the object gets `HAS_DATA`; otherwise it was written outside
 * the mount, and that is a per-path problem (`NO_DATA`), nothing journaled.
 */
function settlePlaceholder(ctx: ScanContext, obj: FsObject, st: EntryStat, rel: string, hash: string): void {
  if (hash === obj.hash) {
    ctx.set.fsdb.put({ ...obj, ...localFields(st), flags: obj.flags | HAS_DATA });
    return;
  }
  ctx.report.problems.push({
    path: rel,
    code: "NO_DATA",
    message: "changed outside the mount before its data was fetched; not journaled (the placeholder is not its content)",
  });
}

/**
 * Journals a known object's attribute changes (setattr), or silently refreshes its local inode
 * fields. `xattrs`: its extended attributes as on disk, when compared ({@link xattrsOnDisk}).
 */
export function recordAttrs(ctx: ScanContext, obj: FsObject, st: EntryStat, xattrs?: Xattrs): void {
  const attrs = changedAttrs(obj, st, xattrs);
  const ctimeNs = seenCtime(ctx, obj, st);
  if (isEmptyAttrs(attrs)) {
    if (obj.ino !== inoKey(st) || obj.ctimeNs !== ctimeNs) ctx.set.fsdb.setLocal(obj.fid, inoKey(st), ctimeNs);
    return;
  }
  ctx.journal.record({ op: "setattr", fid: obj.fid, time: Date.now(), base: obj.version, attrs }, () =>
    ctx.set.fsdb.put({ ...obj, ...localFields(st), ctimeNs, size: obj.size, xattrs: attrs.xattrs !== undefined ? xattrsText(attrs.xattrs) : obj.xattrs }),
  );
  ctx.report.records++;
}

/**
 * The ctime a row keeps for `st`: its own, except that a scan which does not compare extended
 * attributes (`--no-xattrs`) leaves a file's or directory's ctime as it was, so the next scan that
 * does still sees it moved and compares them (nothing changed meanwhile is passed over for good).
 */
export function seenCtime(ctx: ScanContext, obj: Pick<FsObject, "type" | "ctimeNs">, st: EntryStat): string | null {
  return ctx.xattrs || (obj.type !== "f" && obj.type !== "d") ? st.ctimeNs.toString() : obj.ctimeNs;
}

/** Adds a per-path problem for an I/O error. */
export function problem(ctx: ScanContext, rel: string, err: unknown): void {
  const e = err as NodeJS.ErrnoException;
  ctx.report.problems.push({ path: rel || ".", code: e.code ?? "IO", message: e.message });
}

/** Throws the scanner's mass-deletion refusal. */
export function massDelete(deletions: number, total: number): ImzError {
  return new ImzError("MASS_DELETE", `refusing to delete ${deletions} of ${total} objects (more than the --max-delete threshold)`, {
    hint: "if the deletions are intended, rerun with --force; if the tree was unmounted or emptied by accident, restore it first",
  });
}
