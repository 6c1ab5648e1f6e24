/**
 * The scanner: compares the tree on disk with the Fsdb and journals what changed, the way the
 * filter would have journaled it. It is the filter for trees without one and the crash-recovery path.
 *
 * Two passes. The walk (pass 1) goes one directory at a time, holding only that directory's entries
 * and the Fsdb rows of its children: same-identity objects (same name, same inode) are compared and
 * their content/attribute changes journaled at once (hashing only where size or mtime moved); entries
 * with a new identity and known objects no longer seen are set aside. The resolver (pass 2, see
 * `scan-resolve.ts`) turns those into renames (same inode at a new place: one record, no data),
 * hard links, creates and deletes, in an order the server can replay. Memory follows the number of
 * changes, never the size of the tree.
 */
import fs from "node:fs";
import { ImzError } from "../errors.js";
import { hashFile } from "../journal/content-hash.js";
import { inoKey, type FileSet } from "../journal/fileset.js";
import { HAS_DATA, isPlaceholder, type FsObject } from "../journal/fsdb.js";
import { Journal } from "../journal/journal.js";
import { fsPath, nameOf } from "../journal/names.js";
import { ROOT_FID } from "../journal/records.js";
import { loadIgnore } from "./ignore.js";
import { changedAttrs, contentMayDiffer, isEmptyAttrs, localFields, sameInode, typeOf, type Problem } from "./object-stat.js";
import { Resolver, sameSymlinkTarget, type Found } from "./scan-resolve.js";

/** Options of {@link scan}. */
export interface ScanOptions {
  /** Refuse when more than this fraction of the file set's objects would be deleted (default 0.5). */
  maxDeleteFraction?: number;
  /** Journal mass deletions anyway. */
  force?: boolean;
  /**
   * Called for a known file whose content may have changed, with its size, before it is hashed (a
   * sync tells the holder meanwhile, which signs its own version while this side hashes).
   */
  onContentChange?: (fid: string, size: number) => void;
  /**
   * Known files of at least this size whose size or mtime moved are journaled with their content
   * hash unknown (""), not hashed: a sync's delta reads them anyway and hashes them then.
   */
  hashAtSendFrom?: number;
  /**
   * Only these directories (relative paths; `""` is the root), each compared alone — its known
   * subdirectories are not entered, new ones are walked whole: what a watcher's events named.
   * Default: the whole tree.
   */
  dirs?: string[];
  /** Journal special files (FIFOs, sockets, devices; default true); false skips each as a per-path problem. */
  specials?: boolean;
}

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
  onContentChange?: ScanOptions["onContentChange"];
  hashAtSendFrom?: number;
}

/**
 * Scans the file set's tree and journals every difference from its Fsdb. Throws `MASS_DELETE` (and
 * journals no deletion) when the deletions exceed the threshold, unless `force`.
 */
export async function scan(set: FileSet, opts: ScanOptions = {}): Promise<ScanReport> {
  set.startGroup();
  try {
    return await walkAndResolve(set, opts);
  } finally {
    set.endGroup();
  }
}

async function walkAndResolve(set: FileSet, opts: ScanOptions): Promise<ScanReport> {
  const ctx: ScanContext = {
    set,
    journal: new Journal(set),
    report: { records: 0, examined: 0, hashedBytes: 0, problems: [] },
    onContentChange: opts.onContentChange,
    hashAtSendFrom: opts.hashAtSendFrom,
  };
  const ignored = loadIgnore(set.root);
  const resolver = new Resolver(ctx);
  const whole = opts.dirs === undefined;
  const stack: Array<{ fid: string; rel: string }> = whole ? [{ fid: ROOT_FID, rel: "" }] : startDirs(set, opts.dirs!);
  const dirAttrs: Array<{ fid: string; st: fs.BigIntStats }> = [];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const abs = fsPath(set.root, dir.rel);
    let names: string[];
    try {
      // as bytes: a name that is not valid UTF-8 is carried as a raw name (journal/names.ts), not lost
      names = fs.readdirSync(abs, { encoding: "buffer" }).map(nameOf);
    } catch (err) {
      // Unreadable: its known entries are simply not compared, so none of them looks deleted.
      problem(ctx, dir.rel, err);
      continue;
    }
    const known = new Map(set.fsdb.children(dir.fid).map((o) => [o.name, o]));
    for (const name of names) {
      const rel = dir.rel === "" ? name : `${dir.rel}/${name}`;
      let st: fs.BigIntStats;
      try {
        st = fs.lstatSync(fsPath(set.root, rel), { bigint: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") problem(ctx, rel, err);
        continue;
      }
      const type = typeOf(st);
      if (ignored(rel, type === "d")) {
        known.delete(name);
        continue;
      }
      ctx.report.examined++;
      if (type === undefined || (type === "s" && opts.specials === false)) {
        ctx.report.problems.push({ path: rel, code: "UNSUPPORTED", message: "special file (FIFO, socket or device) skipped" });
        known.delete(name);
        continue;
      }
      const obj = known.get(name);
      if (obj && obj.type === type && sameInode(obj, st) && sameSymlinkTarget(obj, fsPath(set.root, rel))) {
        known.delete(name);
        await recordChanges(ctx, obj, st, rel);
        if (type === "d" && whole) stack.push({ fid: obj.fid, rel });
        continue;
      }
      const f: Found = { parent: dir.fid, name, rel, type, st, fid: "" };
      const subdirFid = resolver.found(f);
      if (subdirFid !== undefined) stack.push({ fid: subdirFid, rel });
    }
    for (const gone of known.values()) {
      if (!ignored(dir.rel === "" ? gone.name : `${dir.rel}/${gone.name}`, gone.type === "d")) resolver.missing(gone);
    }
    const self = set.fsdb.get(dir.fid);
    if (self) {
      try {
        const st = fs.lstatSync(abs, { bigint: true });
        if (!isEmptyAttrs(changedAttrs(self, st))) dirAttrs.push({ fid: dir.fid, st });
      } catch (err) {
        problem(ctx, dir.rel, err);
      }
    }
  }
  resolver.checkDeletes(set.fsdb.count(), opts.maxDeleteFraction ?? 0.5, opts.force ?? false);
  await resolver.resolve();
  for (const d of dirAttrs) {
    const obj = set.fsdb.get(d.fid);
    if (obj) recordAttrs(ctx, obj, d.st);
  }
  return ctx.report;
}

/**
 * The known directories to start a partial scan from: each named directory, or its deepest known
 * ancestor when it is new (the ancestor's scan finds it and walks it whole); each once.
 */
function startDirs(set: FileSet, dirs: string[]): Array<{ fid: string; rel: string }> {
  const out = new Map<string, { fid: string; rel: string }>();
  for (const d of dirs) {
    let fid = ROOT_FID;
    const known: string[] = [];
    for (const name of d.split("/").filter((n) => n !== "")) {
      const child = set.fsdb.child(fid, name);
      if (!child || child.type !== "d") break;
      fid = child.fid;
      known.push(name);
    }
    out.set(fid, { fid, rel: known.join("/") });
  }
  return [...out.values()];
}

/**
 * Journals the content and attribute changes of a known object at its (unchanged or just renamed)
 * place. Directories' own attributes are left to the end of the scan, after their entries changed.
 * With `force` the content is hashed even when size and mtime did not move (a filter that saw writes).
 * A placeholder (no `HAS_DATA`) is never journaled as content (see `settlePlaceholder`).
 */
export async function recordChanges(ctx: ScanContext, obj: FsObject, st: fs.BigIntStats, rel: string, force = false): Promise<void> {
  if (obj.type === "d") return;
  if (obj.type === "f" && (force || contentMayDiffer(obj, st))) {
    if (!isPlaceholder(obj)) ctx.onContentChange?.(obj.fid, Number(st.size));
    const atSend = !force && !isPlaceholder(obj) && Number(st.size) >= (ctx.hashAtSendFrom ?? Infinity);
    let hash = "";
    try {
      if (!atSend) hash = await hashFile(fsPath(ctx.set.root, rel));
    } catch (err) {
      problem(ctx, rel, err);
      return;
    }
    if (!atSend) ctx.report.hashedBytes += Number(st.size);
    if (isPlaceholder(obj)) return settlePlaceholder(ctx, obj, st, rel, hash);
    if (atSend || hash !== obj.hash) {
      const content = { size: Number(st.size), mtimeNs: st.mtimeNs.toString(), hash };
      const { size, mtimeNs, ino, ctimeNs } = localFields(st);
      // Only what the close carries: a mode or owner changed as well is left for recordAttrs to see.
      ctx.journal.record({ op: "close", fid: obj.fid, time: Date.now(), base: obj.version, content }, () =>
        ctx.set.fsdb.put({ ...obj, size, mtimeNs, ino, ctimeNs, hash }),
      );
      ctx.report.records++;
      obj = ctx.set.fsdb.must(obj.fid);
    }
  }
  recordAttrs(ctx, obj, st);
}

/**
 * A lazy replica's placeholder whose size or mtime moved. Its bytes are never journaled as the
 * file's content: when they hash to the content the Fsdb expects, the data did arrive (a fetch cut
 * short before its flag was set) and the object gets `HAS_DATA`; otherwise it was written outside
 * the mount, and that is a per-path problem (`NO_DATA`), nothing journaled.
 */
function settlePlaceholder(ctx: ScanContext, obj: FsObject, st: fs.BigIntStats, rel: string, hash: string): void {
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

/** Journals a known object's attribute changes (setattr), or silently refreshes its local inode fields. */
export function recordAttrs(ctx: ScanContext, obj: FsObject, st: fs.BigIntStats): void {
  const attrs = changedAttrs(obj, st);
  if (isEmptyAttrs(attrs)) {
    if (obj.ino !== inoKey(st) || obj.ctimeNs !== st.ctimeNs.toString()) ctx.set.fsdb.setLocal(obj.fid, inoKey(st), st.ctimeNs.toString());
    return;
  }
  ctx.journal.record({ op: "setattr", fid: obj.fid, time: Date.now(), base: obj.version, attrs }, () =>
    ctx.set.fsdb.put({ ...obj, ...localFields(st), size: obj.size }),
  );
  ctx.report.records++;
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
