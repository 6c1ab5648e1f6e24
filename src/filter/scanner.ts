/**
 * The scanner: compares the tree on disk with the Fsdb and journals what changed, the way the
 * filter would have journaled it. It is the filter for trees without one and the crash-recovery path.
 *
 * Two passes. The walk (pass 1) goes one directory at a time, holding only that directory's entries
 * and the Fsdb rows of its children. A directory is read and stat'ed in native code on a worker
 * thread (`walk.ts`, a few directories ahead) and its rows come as one *print* each (see
 * `Fsdb.childPrints`): an entry whose print equals its row's is unchanged and costs one string
 * comparison. Any other entry is `lstat`ed and compared the thorough way: same-identity objects
 * (same name, same inode) have their content/attribute changes journaled at once (hashing only
 * where size or mtime moved); entries with a new identity and known objects no longer seen are set
 * aside. The resolver (pass 2, see `scan-resolve.ts`) turns those into renames (same inode at a new
 * place: one record, no data), hard links, creates and deletes, in an order the server can replay.
 * Memory follows the number of changes, never the size of the tree.
 */
import fs from "node:fs";
import { SMALL_FILE } from "../journal/content-hash.js";
import { META_DIR, type FileSet } from "../journal/fileset.js";
import type { ChildPrint, FsObject } from "../journal/fsdb.js";
import { Journal } from "../journal/journal.js";
import { fsPath, relBytes } from "../journal/names.js";
import { ROOT_FID } from "../journal/records.js";
import type { Xattrs } from "../journal/xattrs.js";
import { loadIgnore, type IgnoreTest } from "./ignore.js";
import { changedAttrs, entryStat, isEmptyAttrs, sameInode, typeOf, type EntryStat } from "./object-stat.js";
import { Resolver, sameSymlinkTarget } from "./scan-resolve.js";
import { problem, recordAttrs, recordChanges, xattrsOnDisk, type ScanContext, type ScanReport } from "./scan-record.js";
import { fileStat, walkDir, walkedRead, type DirListing, type WalkEntry } from "./walk.js";

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
   * Asked (once) when a new file of at least {@link hashAtSendFrom} bytes is found: true when no
   * file on the other side can be identical to it (a sync's holder whose tree is empty), and new
   * files of that size are then journaled with their content hash unknown too, hashed as they are
   * sent. A created file is otherwise hashed: a union of two trees adopts identical files by hash.
   */
  newHashedAtSend?: () => Promise<boolean>;
  /**
   * Only these directories (relative paths; `""` is the root), each compared alone — its known
   * subdirectories are not entered, new ones are walked whole: what a watcher's events named.
   * Default: the whole tree.
   */
  dirs?: string[];
  /** Journal special files (FIFOs, sockets, devices; default true); false skips each as a per-path problem. */
  specials?: boolean;
  /** Journal extended attributes and ACLs (default true); false leaves them out of every record (`--no-xattrs`). */
  xattrs?: boolean;
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

/** A directory waiting to be walked. */
interface PendingDir {
  fid: string;
  rel: string;
  /** Its print in its parent's Fsdb listing (see `Fsdb.childPrints`), when it is a known object. */
  print?: string | null;
  /** Its listing, once asked for (read ahead while an earlier directory is compared). */
  listing?: Promise<DirListing>;
  /** A directory with no entry in the Fsdb yet (new, a first copy's): the walk also hashes its small files. */
  fresh?: boolean;
  /**
   * The digest the Fsdb remembers for it (`Fsdb.wholeDigest`), null for none; undefined until
   * looked up. The walk is given it, and leaves out what an unchanged directory's scan never reads.
   */
  known?: Buffer | null;
}

/** How many directories on top of the stack are read (on worker threads) while one is compared. */
const READ_AHEAD = 4;

/** Above this many subdirectories, an unchanged directory's are looked up together (`Fsdb.subdirFids`). */
const MANY_SUBDIRS = 8;

/** What pass 1 shares while it walks. */
interface Walk {
  ctx: ScanContext;
  ignored: IgnoreTest;
  resolver: Resolver;
  stack: PendingDir[];
  /** The whole tree (else only the directories asked for, and new ones under them). */
  whole: boolean;
  /** Journal special files (else each is a per-path problem). */
  specials: boolean;
}

async function walkAndResolve(set: FileSet, opts: ScanOptions): Promise<ScanReport> {
  const ctx: ScanContext = {
    set,
    journal: new Journal(set),
    report: { records: 0, examined: 0, hashedBytes: 0, problems: [] },
    onContentChange: opts.onContentChange,
    hashAtSendFrom: opts.hashAtSendFrom,
    newHashedAtSend: opts.newHashedAtSend,
    xattrs: opts.xattrs !== false,
  };
  const whole = opts.dirs === undefined;
  const stack: PendingDir[] = whole ? [{ fid: ROOT_FID, rel: "", fresh: !set.fsdb.hasChildren(ROOT_FID) }] : startDirs(set, opts.dirs!);
  const walk: Walk = { ctx, ignored: loadIgnore(set.root), resolver: new Resolver(ctx), stack, whole, specials: opts.specials !== false };
  const { ignored, resolver } = walk;
  const dirAttrs: Array<{ fid: string; st: fs.BigIntStats; xattrs: Xattrs | undefined }> = [];
  while (stack.length > 0) {
    readAhead(walk);
    const dir = stack.pop()!;
    let listing: DirListing;
    try {
      listing = await dir.listing!;
      // rows under it changed after its read-ahead (not expected: pass 1 changes the rows of the
      // directory it compares): the digest the walk matched is no longer the Fsdb's, so read it whole
      if (listing.omitted && !set.fsdb.remembersWhole(dir.fid, listing.wholeDigest!)) listing = await walkDir(dirPath(set.root, dir.rel), skipOf(dir));
    } catch (err) {
      // Unreadable: its known entries are simply not compared, so none of them looks deleted.
      problem(ctx, dir.rel, err);
      continue;
    }
    if (ignored.onlyMeta && listing.wholeDigest !== null && (listing.omitted || set.fsdb.matchesWhole(dir.fid, listing.wholeDigest, () => listing.whole!))) {
      // Every entry the same object with the same print, and no other: nothing to journal here.
      ctx.report.examined += listing.count();
      const subs = whole ? listing.directories() : [];
      // each subdirectory's fid and remembered digest; many of them in one query rather than one each
      const known = subs.length > MANY_SUBDIRS ? set.fsdb.subdirFids(dir.fid) : undefined;
      for (const sub of subs) {
        const rel = dir.rel === "" ? sub.name : `${dir.rel}/${sub.name}`;
        const [fid, digest] = known?.get(sub.name) ?? set.fsdb.subdir(dir.fid, sub.name)!;
        stack.push({ fid, rel, print: sub.print, known: digest });
      }
    } else {
      await compareEach(walk, dir, listing);
    }
    if (dir.print !== undefined && dir.print === listing.self.print) continue; // its own attributes unchanged
    const self = set.fsdb.get(dir.fid);
    if (self) {
      try {
        const st = fs.lstatSync(dirPath(set.root, dir.rel), { bigint: true });
        const xattrs = xattrsOnDisk(ctx, self, st, dir.rel);
        if (!isEmptyAttrs(changedAttrs(self, st, xattrs))) dirAttrs.push({ fid: dir.fid, st, xattrs });
      } catch (err) {
        problem(ctx, dir.rel, err);
      }
    }
  }
  // the objects placed at once in pass 1 are new: the threshold is a fraction of what the tree had
  resolver.checkDeletes(() => set.fsdb.count() - resolver.placedNow, opts.maxDeleteFraction ?? 0.5, opts.force ?? false);
  await resolver.resolve();
  for (const d of dirAttrs) {
    const obj = set.fsdb.get(d.fid);
    if (obj) recordAttrs(ctx, obj, d.st, d.xattrs);
  }
  return ctx.report;
}

/** Compares a directory's entries one by one with its Fsdb rows; sets aside those that moved or went. */
async function compareEach(walk: Walk, dir: PendingDir, listing: DirListing): Promise<void> {
  const { ctx, ignored, resolver, stack } = walk;
  const set = ctx.set;
  const known = new Map(set.fsdb.childPrints(dir.fid).map((row) => [row[0], row]));
  for (const entry of listing.entries()) {
    const rel = dir.rel === "" ? entry.name : `${dir.rel}/${entry.name}`;
    const row = known.get(entry.name);
    if (row !== undefined && row[3] === entry.print && (entry.kind === "f" || entry.kind === "d")) {
      // The same object, its print unchanged: nothing to journal (what compare would find).
      known.delete(entry.name);
      if (ignored(rel, entry.kind === "d")) continue;
      ctx.report.examined++;
      if (entry.kind === "d" && walk.whole) stack.push({ fid: row[1], rel, print: row[3] });
      continue;
    }
    await compare(walk, dir, entry, rel, known);
  }
  for (const [name, fid, type] of known.values()) {
    if (!ignored(dir.rel === "" ? name : `${dir.rel}/${name}`, type === "d")) resolver.missing(set.fsdb.must(fid));
  }
  // the directory's new entries, journaled together: in the Fsdb before any is walked
  resolver.directoryDone();
}

/**
 * Starts reading the directories on top of the stack that are not being read yet. A known
 * directory's walk is given the digest the Fsdb remembers for it: when its whole text still has
 * that digest, the walk sends only what the scan of an unchanged directory reads (its own entry and
 * its subdirectories), not its every entry (`DirListing.omitted`). Not with ignore rules beyond
 * `.intermezzo`: such a directory is compared entry by entry.
 */
function readAhead(walk: Walk): void {
  const { stack, ctx } = walk;
  const fsdb = ctx.set.fsdb;
  for (let i = stack.length - 1; i >= 0 && i >= stack.length - READ_AHEAD; i--) {
    const dir = stack[i]!;
    if (dir.listing !== undefined) continue;
    if (dir.fresh !== true && walk.ignored.onlyMeta) dir.known ??= fsdb.wholeDigest(dir.fid) ?? null;
    dir.listing = walkDir(dirPath(ctx.set.root, dir.rel), skipOf(dir), dir.fresh === true ? SMALL_FILE : undefined, dir.known ?? undefined);
    dir.listing.catch(() => undefined); // handled when the directory is popped
  }
}

/**
 * The name a directory's walk leaves out: the root's `.intermezzo` is never journaled, and its
 * print moves with every sync; left out, the root's whole text can match its rows like any other
 * directory's.
 */
function skipOf(dir: PendingDir): string | undefined {
  return dir.rel === "" ? META_DIR : undefined;
}

/**
 * `fsPath` of a directory the walk reached: its `rel` is names the walk read joined by `/` (never
 * `.` or `..`) and the root is absolute and normalised, so the join is a concatenation. Two
 * `path.join`s per directory were enough for V8 to compile `join` with its optimising compiler on
 * every sync (about 14 ms of a background thread at 30,000 files, while the walk needs both cores).
 */
function dirPath(root: string, rel: string): string | Buffer {
  const bytes = relBytes(rel);
  if (typeof bytes !== "string") return fsPath(root, rel);
  return rel === "" ? root : root.endsWith("/") ? root + rel : `${root}/${rel}`;
}

/**
 * Compares one entry whose print did not match its Fsdb row (or that has none) the thorough way:
 * its stat (the walk's for a regular file, else an `lstat`), and journal its changes (a known
 * object at its place) or set it aside for pass 2.
 */
async function compare(walk: Walk, dir: PendingDir, entry: WalkEntry, rel: string, known: Map<string, ChildPrint>): Promise<void> {
  const { ctx, resolver, stack } = walk;
  const name = entry.name;
  const abs = fsPath(ctx.set.root, rel);
  const walked = fileStat(entry);
  let st: EntryStat;
  try {
    st = walked ?? fs.lstatSync(abs, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") problem(ctx, rel, err);
    return;
  }
  const type = typeOf(st);
  if (walk.ignored(rel, type === "d")) {
    known.delete(name);
    return;
  }
  ctx.report.examined++;
  if (type === undefined || (type === "s" && !walk.specials)) {
    ctx.report.problems.push({ path: rel, code: "UNSUPPORTED", message: "special file (FIFO, socket or device) skipped" });
    known.delete(name);
    return;
  }
  const row = known.get(name);
  const obj = row && ctx.set.fsdb.must(row[1]);
  if (obj && obj.type === type && sameInode(obj, st) && sameSymlinkTarget(obj, abs)) {
    known.delete(name);
    await recordChanges(ctx, obj, st, rel);
    if (type === "d" && walk.whole) stack.push({ fid: obj.fid, rel, print: row![3] });
    return;
  }
  const subdirFid = await resolver.found({ parent: dir.fid, name, rel, type, st: walked ?? entryStat(st), fid: "", read: walked && walkedRead(entry) });
  // every entry of a directory with none in the Fsdb is new and hashed: the walk hashes them beside the main thread
  if (subdirFid !== undefined) stack.push({ fid: subdirFid, rel, fresh: !ctx.set.fsdb.hasChildren(subdirFid) });
}

/**
 * The known directories to start a partial scan from: each named directory, or its deepest known
 * ancestor that is still itself on disk when it is new, or was replaced, moved away or swapped for a
 * symlink since it was journaled (the ancestor's scan finds what is at that name now: `mv a moved;
 * mkdir a` is then a rename and a mkdir, where comparing the new `a` with the old one's rows lost
 * every entry of `moved`); each once.
 */
function startDirs(set: FileSet, dirs: string[]): Array<{ fid: string; rel: string }> {
  const out = new Map<string, { fid: string; rel: string }>();
  const still = new Map<string, boolean>();
  for (const d of dirs) {
    let fid = ROOT_FID;
    const known: string[] = [];
    for (const name of d.split("/").filter((n) => n !== "")) {
      const child = set.fsdb.child(fid, name);
      if (!child || child.type !== "d") break;
      const rel = [...known, name].join("/");
      if (!still.has(rel)) still.set(rel, stillOnDisk(set, child, rel));
      if (!still.get(rel)) break;
      fid = child.fid;
      known.push(name);
    }
    out.set(fid, { fid, rel: known.join("/") });
  }
  return [...out.values()];
}

/** Whether directory `o` is still the directory at `rel` on disk (its inode, not a symlink or another object). */
function stillOnDisk(set: FileSet, o: FsObject, rel: string): boolean {
  try {
    const st = fs.lstatSync(dirPath(set.root, rel), { bigint: true });
    return st.isDirectory() && sameInode(o, st);
  } catch {
    return false;
  }
}
