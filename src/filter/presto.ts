/**
 * Presto, the journaling filter: a decorator over a {@link FsLayer} (the passthrough to the
 * holding location) that journals every update as it happens, the way the scanner would have
 * journaled it after the fact, so a scan after a filtered session finds nothing to add.
 *
 * Invariants:
 * - Updates are journaled one at a time, in the order they were made (one serial queue); the Fsdb
 *   row and its record commit together ({@link Journal.record}). Within the open batch a program's
 *   follow-up updates of an object fold into its last record (`presto-fold.ts`).
 * - A written file is journaled when it is closed (flush): one `close` record, content hash taken
 *   then. Names (create, mkdir, symlink, link, unlink, rmdir, rename) and attributes get their own
 *   records with base versions, and the directories they touch get their mtime `setattr`.
 * - `.intermezzo/` does not exist through the filter.
 * - What the filter cannot journal exactly (an object it does not know, an ignored name becoming a
 *   tracked one) makes it *suspect*: recorded in `filter_events`, then settled by a scan.
 */
import fs from "node:fs";
import path from "node:path";
import { inoKey, META_DIR, type FileSet } from "../journal/fileset.js";
import { HAS_ATTR, HAS_DATA, type FsObject } from "../journal/fsdb.js";
import type { NewRecord } from "../journal/records.js";
import { loadIgnore, type IgnoreTest } from "./ignore.js";
import { withPath } from "./long-path.js";
import { byHandle, followAttrs, followContent } from "./presto-links.js";
import { localFields, specialOf, typeOf } from "./object-stat.js";
import type { FsLayer, StatFs, Timespec } from "./passthrough.js";
import { FoldingJournal } from "./presto-fold.js";
import { ExtentsTracker } from "./presto-extents.js";
import { recoverInPlace } from "../sync/in-place.js";
import { PermitGate } from "./presto-permits.js";
import { EMPTY_HASH } from "../journal/content-hash.js";
import { Batch, BATCH_TIMING, type BatchTiming, errnoError, FUSE_HIDDEN, isMeta, newRecord, objectAt, parentOf, rel, Serial } from "./presto-support.js";
import { recordAttrs, recordChanges, type ScanContext } from "./scan-record.js";
import { scan } from "./scanner.js";
import { AT_FDCWD, readXattrs } from "./xattr-io.js";
import { isCarried, xattrsText, type Xattrs } from "../journal/xattrs.js";

/** How long a reader waits for Lento's row of a file it just installed, and how often it looks (ms). */
const SETTLE_WAIT_MS = 2000;
const SETTLE_POLL_MS = 5;

/** What the filter journaled since it attached. */
export interface FilterStats {
  records: number;
  suspects: number;
}

/**
 * The upcall to Lento (the paper's `upcall(inode, "get_data")`): brings an object's data into the
 * holding location — a file's content, a directory's entries — with Lento's unjournaled writes, and
 * sets its `HAS_DATA` flag. Rejects (the caller sees EIO) when the holder cannot be reached.
 */
export type Upcall = (obj: FsObject, relPath: string) => Promise<void>;

/** Options of {@link Presto.attach}. */
export interface AttachOptions {
  /** Recorded with the `attach` event (e.g. the mountpoint). */
  detail?: Record<string, unknown>;
  /** Fetches objects without `HAS_DATA` before they are opened or listed (a lazy replica). */
  upcall?: Upcall;
  /** When the journal's batches commit besides durability points (tests pin it; default {@link BATCH_TIMING}). */
  batch?: BatchTiming;
  /** Asks Lento for an object's permit before a program writes to it (`presto-permits.ts`). */
  permit?: (fid: string) => Promise<boolean>;
}

/** The journaling decorator. Attach it with {@link Presto.attach}; call {@link Presto.detach} at unmount. */
export class Presto implements FsLayer {
  private readonly serial = new Serial();
  private readonly batch: Batch;
  /** Handles written (or truncated) since their last close record. */
  private readonly dirty = new Set<number>();
  /** Handles opened with O_APPEND (passed down: their writes land at the holding file's end). */
  private readonly appending = new Set<number>();
  private readonly ctx: ScanContext;
  private readonly ignored: IgnoreTest;
  private readonly extents: ExtentsTracker;
  private rescanning: Promise<void> | undefined;
  private suspects = 0;

  /** Fetches in progress, by fid: concurrent opens of one object wait on the same upcall. */
  private readonly fetching = new Map<string, Promise<void>>();
  /** Writers and their permits (absent without a permit upcall). */
  private readonly gate: PermitGate | undefined;

  private constructor(
    readonly set: FileSet,
    private readonly inner: FsLayer,
    private readonly upcall: Upcall | undefined,
    timing: BatchTiming = BATCH_TIMING,
    permit?: (fid: string) => Promise<boolean>,
  ) {
    this.gate = permit && new PermitGate(permit);
    const journal = new FoldingJournal(set);
    this.batch = new Batch(set.db, this.serial, () => journal.forget(), timing);
    this.ctx = { set, journal, report: { records: 0, examined: 0, hashedBytes: 0, problems: [] }, xattrs: true };
    this.ignored = loadIgnore(set.root);
    this.extents = new ExtentsTracker(set);
  }

  /**
   * Attaches the filter to `set` over `inner`. First the recovery scan (the paper's "suspects":
   * whatever changed while no filter was attached, or after a crash), under the file set's lock;
   * then the `attach` event, from which on the sync trusts the journal and skips its scan.
   */
  static async attach(set: FileSet, inner: FsLayer, opts: AttachOptions = {}): Promise<Presto> {
    const release = set.lock("mount");
    try {
      set.cleanTemp();
      recoverInPlace(set); // before the scan would take a half-written file for a local change
      await scan(set);
      set.filterEvent("attach", opts.detail ?? {});
    } finally {
      release();
    }
    return new Presto(set, inner, opts.upcall, opts.batch, opts.permit);
  }

  /** What the filter journaled since it attached. */
  get stats(): FilterStats {
    return { records: this.ctx.report.records, suspects: this.suspects };
  }

  /** Waits for pending journaling and records a clean `detach`. */
  async detach(): Promise<void> {
    await this.settled();
    this.set.filterEvent("detach");
  }

  /** Waits until every update made so far is journaled. */
  async settled(): Promise<void> {
    await this.serial.run(async () => this.batch.commit());
    await this.rescanning;
    await this.serial.run(async () => this.batch.commit());
  }

  // Reads: the passthrough, with `.intermezzo/` hidden.

  async getattr(mp: string): Promise<fs.BigIntStats> {
    if (mp !== "/") await this.withData(`/${parentOf(rel(mp))}`); // a name looked up in a directory not yet fetched
    return this.inner.getattr(this.visible(mp));
  }

  async readdir(mp: string): Promise<string[]> {
    await this.withData(mp);
    const names = await this.inner.readdir(this.visible(mp));
    return mp === "/" ? names.filter((n) => n !== META_DIR) : names;
  }

  async open(mp: string, flags: number): Promise<number> {
    await this.withData(mp);
    const truncating = (flags & fs.constants.O_TRUNC) !== 0;
    const open = async (): Promise<number> => {
      if (truncating && !isMeta(mp)) this.truncating(rel(mp), 0);
      const fh = await this.inner.open(this.visible(mp), flags);
      if (truncating) this.dirty.add(fh);
      if ((flags & fs.constants.O_APPEND) !== 0) this.appending.add(fh);
      return fh;
    };
    const writes = (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_TRUNC)) !== 0;
    const fid = writes ? this.permitted(mp) : undefined;
    return fid ? this.gate!.write(fid, open) : open();
  }

  /**
   * Lento gives back the permits of `fids` (the holder took them): resolves once no program has
   * them open for writing and their records are committed.
   */
  async givePermitsBack(fids: string[]): Promise<void> {
    await this.gate?.release(fids, () => this.settled());
  }

  /** The fid of the file at `mp` when writing it needs a permit (a known regular file, a permit upcall). */
  private permitted(mp: string): string | undefined {
    if (!this.gate || isMeta(mp)) return undefined;
    const obj = this.resolve(rel(mp));
    return obj?.type === "f" ? obj.fid : undefined;
  }

  async read(mp: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    return this.inner.read(mp, fh, buf, len, pos);
  }

  async readlink(mp: string): Promise<string> {
    return this.inner.readlink(this.visible(mp));
  }

  async statfs(mp: string): Promise<StatFs> {
    return this.inner.statfs(this.visible(mp));
  }

  async access(mp: string, mode: number): Promise<void> {
    return this.inner.access(this.visible(mp), mode);
  }

  // Extended attributes: read through; a change of a replicated one (user.*, the POSIX ACLs) is
  // journaled as a setattr carrying the object's whole set. Others are refused (EOPNOTSUPP): a
  // filter that kept what it cannot replicate would let replicas differ silently.

  async getxattr(mp: string, name: string): Promise<Buffer> {
    return this.inner.getxattr(this.visible(mp), name);
  }

  async listxattr(mp: string): Promise<string[]> {
    return this.inner.listxattr(this.visible(mp));
  }

  async setxattr(mp: string, name: string, value: Buffer, flags: number): Promise<void> {
    return this.attrUpdate(mp, () => this.inner.setxattr(mp, carried(name), value, flags));
  }

  async removexattr(mp: string, name: string): Promise<void> {
    return this.attrUpdate(mp, () => this.inner.removexattr(mp, carried(name)));
  }

  async fsync(mp: string, fh: number, datasync: boolean): Promise<void> {
    await this.inner.fsync(mp, fh, datasync);
    await this.serial.run(async () => this.batch.commit());
  }

  // Content: written handles are journaled at close.

  async write(mp: string, fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    // noted before it is made (see presto-extents.ts); an O_APPEND write lands at the file's end,
    // wherever the kernel thinks that is: everything from there on counts
    const append = this.appending.has(fh);
    const from = append ? Math.min(pos, fs.fstatSync(fh).size) : pos;
    const done = this.extents.willWrite(fh, () => this.resolve(rel(mp)), from, append ? Infinity : len);
    try {
      const n = await this.inner.write(mp, fh, buf, len, pos);
      this.dirty.add(fh);
      return n;
    } finally {
      done();
    }
  }

  async ftruncate(mp: string, fh: number, size: number): Promise<void> {
    this.extents.truncatedHandle(fh, () => this.resolve(rel(mp)), size);
    await this.inner.ftruncate(mp, fh, size);
    this.dirty.add(fh);
  }

  async flush(mp: string, fh: number): Promise<void> {
    await this.inner.flush(mp, fh);
    if (this.dirty.delete(fh)) await this.serial.run(() => this.closed(rel(mp), fh));
  }

  async release(mp: string, fh: number): Promise<void> {
    try {
      if (this.dirty.delete(fh)) await this.serial.run(() => this.closed(rel(mp), fh));
      await this.inner.release(mp, fh);
    } finally {
      this.extents.released(fh);
      this.appending.delete(fh);
      this.gate?.closed(fh);
    }
  }

  // Updates: the operation below, then its record.

  async create(mp: string, mode: number): Promise<number> {
    return this.serial.run(async () => {
      const fh = await this.inner.create(this.creatable(mp), mode);
      this.batch.run(() => this.place(rel(mp)));
      return fh;
    });
  }

  async mkdir(mp: string, mode: number): Promise<void> {
    return this.update(mp, () => this.inner.mkdir(mp, mode), () => this.place(rel(mp)));
  }

  async symlink(target: string, mp: string): Promise<void> {
    return this.update(mp, () => this.inner.symlink(target, mp), () => this.place(rel(mp)));
  }

  async mknod(mp: string, mode: number, dev: number): Promise<void> {
    return this.update(mp, () => this.inner.mknod(mp, mode, dev), () => this.place(rel(mp)));
  }

  async link(existing: string, mp: string): Promise<void> {
    this.visible(existing);
    return this.update(mp, () => this.inner.link(existing, mp), () => this.place(rel(mp), rel(existing)));
  }

  async unlink(mp: string): Promise<void> {
    return this.removal(mp, () => this.inner.unlink(mp));
  }

  async rmdir(mp: string): Promise<void> {
    return this.removal(mp, () => this.inner.rmdir(mp));
  }

  async rename(from: string, to: string): Promise<void> {
    this.visible(from);
    return this.update(to, async () => {
      const src = this.resolve(rel(from));
      const dst = this.resolve(rel(to));
      await this.inner.rename(from, to);
      return { src, dst };
    }, ({ src, dst }) => this.renamed(rel(from), rel(to), src, dst));
  }

  async chmod(mp: string, mode: number): Promise<void> {
    return this.attrUpdate(mp, () => this.inner.chmod(mp, mode));
  }

  async chown(mp: string, uid: number, gid: number): Promise<void> {
    return this.attrUpdate(mp, () => this.inner.chown(mp, uid, gid));
  }

  async utimens(mp: string, atime: Timespec, mtime: Timespec): Promise<void> {
    return this.attrUpdate(mp, () => this.inner.utimens(mp, atime, mtime));
  }

  async truncate(mp: string, size: number): Promise<void> {
    this.visible(mp);
    await this.withData(mp); // what a truncate keeps is the file's content, never a placeholder's bytes
    const truncate = (): Promise<void> =>
      this.serial.run(async () => {
        this.truncating(rel(mp), size);
        await this.inner.truncate(mp, size);
        await this.settleContent(rel(mp));
      });
    const fid = this.permitted(mp);
    return fid ? this.gate!.write(fid, truncate) : truncate();
  }

  /** Waits until the object at `mp` has its data, making one upcall however many callers wait. */
  private async withData(mp: string): Promise<void> {
    if (!this.upcall || isMeta(mp)) return;
    const r = rel(mp);
    const obj = await this.settledRow(mp, this.resolve(r), r);
    if (!obj || (obj.flags & HAS_DATA) !== 0) return;
    let fetch = this.fetching.get(obj.fid);
    if (!fetch) {
      fetch = this.upcall(obj, r).finally(() => this.fetching.delete(obj.fid));
      this.fetching.set(obj.fid, fetch);
    }
    await fetch;
  }

  /**
   * The Fsdb row of a file, once it describes the file on disk. Lento installs a new version (on a
   * lazy replica, a placeholder) and commits its row just after; a reader in between would take a
   * placeholder's zeros for the content the old row says is there. A row whose file is another
   * inode is read again until Lento's commit lands (bounded: a file changed outside the filter keeps
   * the row as it is, and the scan that follows settles it).
   */
  private async settledRow(mp: string, obj: FsObject | undefined, r: string): Promise<FsObject | undefined> {
    if (obj?.type !== "f" || (obj.flags & HAS_DATA) === 0 || obj.ino === null) return obj;
    for (let waited = 0; waited < SETTLE_WAIT_MS; waited += SETTLE_POLL_MS) {
      let ino: string;
      try {
        ino = inoKey(await this.inner.getattr(this.visible(mp)));
      } catch {
        return obj;
      }
      if (ino === obj.ino) return obj;
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
      obj = this.resolve(r);
      if (obj?.type !== "f" || (obj.flags & HAS_DATA) === 0 || obj.ino === null) return obj;
    }
    return obj;
  }

  // Journaling. Each update's records (and its directories' mtimes) commit in one transaction.

  /** Runs an update below, then journals it; both inside the serial queue. */
  private update<T>(mp: string, op: () => Promise<T>, journal: (r: T) => void): Promise<void> {
    this.creatable(mp);
    return this.serial.run(async () => {
      const done = await op();
      this.batch.run(() => journal(done));
    });
  }

  /** chmod, chown, utimens: attributes only (content is journaled at close, never guessed here). */
  private attrUpdate(mp: string, op: () => Promise<void>): Promise<void> {
    this.visible(mp);
    return this.serial.run(async () => {
      await op();
      this.batch.run(() => this.settleAttrs(rel(mp)));
    });
  }

  private removal(mp: string, op: () => Promise<void>): Promise<void> {
    this.visible(mp);
    return this.serial.run(async () => {
      const r = rel(mp);
      const obj = this.resolve(r);
      await op();
      this.batch.run(() => {
        if (obj) this.removed(obj);
        else if (!this.untracked(r)) this.suspect(`removed unknown ${r}`);
        this.settleAttrs(parentOf(r));
      });
    });
  }

  /** Journals a new object at `r` (a hard link to `linkOf` when given), then its directory's mtime. */
  private place(r: string, linkOf?: string): void {
    if (this.untracked(r)) return this.settleAttrs(parentOf(r));
    const parent = this.resolve(parentOf(r));
    const st = this.below(r, (p) => fs.lstatSync(p, { bigint: true }));
    const type = typeOf(st);
    const target = linkOf === undefined ? undefined : this.resolve(linkOf);
    if (!parent || type === undefined || (linkOf !== undefined && !target)) return this.suspect(`new ${r} under an unknown directory or link target`);
    const name = path.posix.basename(r);
    const fid = this.set.allocFid();
    const placed = { fid, time: Date.now(), parent: parent.fid, name };
    // a new file or directory inherits its directory's default ACL
    const xattrs = target ? undefined : this.xattrsAt(r, { type, ctimeNs: null }, st);
    const obj: FsObject = {
      fid, type, parent: parent.fid, name, version: "", ...localFields(st), hash: "", target: null, flags: HAS_DATA | HAS_ATTR, xattrs: xattrsText(xattrs ?? {}),
    };
    if (target) {
      this.emit({ op: "link", ...placed, target: target.fid, targetBase: target.version }, () => this.set.fsdb.put({ ...obj, hash: target.hash, flags: target.flags, xattrs: target.xattrs }));
    } else {
      const link = type === "l" ? this.below(r, (p) => fs.readlinkSync(p)) : type === "s" ? specialOf(st) : null;
      const rec = newRecord(type, placed, st, link);
      if (obj.xattrs !== "" && "attrs" in rec) rec.attrs = { ...rec.attrs, xattrs: xattrs! };
      this.emit(rec, () => this.set.fsdb.put({ ...obj, hash: type === "f" ? EMPTY_HASH : "", target: link }));
    }
    this.settleAttrs(parentOf(r), parent); // the record changed a child's row, not the parent's
  }

  private removed(obj: FsObject): void {
    const op = obj.type === "d" ? "rmdir" : "unlink";
    this.emit({ op, fid: obj.fid, time: Date.now(), parent: obj.parent!, name: obj.name, base: obj.version }, () => this.set.fsdb.delete(obj.fid));
  }

  private renamed(from: string, to: string, src: FsObject | undefined, dst: FsObject | undefined): void {
    if (this.below(from, (p) => fs.existsSync(p))) return; // a rename between two names of one inode changes nothing
    const hidden = FUSE_HIDDEN.test(path.posix.basename(to));
    const newParent = this.resolve(parentOf(to));
    if (src && hidden) {
      this.removed(src);
    } else if (src && newParent && !this.untracked(to)) {
      const newName = path.posix.basename(to);
      const replaced = dst && dst.fid !== src.fid ? dst : undefined;
      const rec: NewRecord = {
        op: "rename", fid: src.fid, time: Date.now(), parent: src.parent!, name: src.name, newParent: newParent.fid, newName, base: src.version,
        ...(replaced ? { replaced: replaced.fid, replacedBase: replaced.version } : {}),
      };
      this.emit(rec, () => {
        if (replaced) this.set.fsdb.delete(replaced.fid);
        this.set.fsdb.put({ ...src, parent: newParent.fid, name: newName });
      });
      this.settleAttrs(to);
    } else if (src || !(this.untracked(from) || FUSE_HIDDEN.test(path.posix.basename(from)))) {
      this.suspect(`rename ${from} -> ${to} the filter cannot express`);
    }
    this.settleAttrs(parentOf(from));
    if (parentOf(to) !== parentOf(from)) this.settleAttrs(parentOf(to));
  }

  /**
   * The known object at `r` (`known`: already resolved in this step, its row unchanged since) with
   * its current lstat, or undefined (unknown, gone, or changed type: suspect).
   */
  private current(r: string, known?: FsObject): { obj: FsObject; st: fs.BigIntStats } | undefined {
    const obj = known ?? this.resolve(r);
    const st = obj && this.below(r, (p) => fs.lstatSync(p, { bigint: true, throwIfNoEntry: false }));
    if (!obj || !st) return undefined; // gone meanwhile: its removal is journaled by its own operation
    if (typeOf(st) === obj.type) return { obj, st };
    this.suspect(`${r} changed type below the filter`);
    return undefined;
  }

  /** Journals the attribute changes of the known object at `r` (setattr), as a scan would; and of its other names. */
  private settleAttrs(r: string, known?: FsObject): void {
    const cur = this.current(r, known);
    if (!cur) return;
    const xattrs = this.xattrsAt(r, cur.obj, cur.st);
    recordAttrs(this.ctx, cur.obj, cur.st, xattrs);
    followAttrs(this.ctx, cur.obj, cur.st, xattrs);
  }

  /**
   * The replicated extended attributes of the file or directory at `r` when its ctime moved since
   * its row (every change of one moves it: setxattr, setfacl, a chmod that rewrites an ACL's mask);
   * undefined otherwise, or when they cannot be read (the next scan compares them).
   */
  private xattrsAt(r: string, obj: Pick<FsObject, "type" | "ctimeNs">, st: fs.BigIntStats): Xattrs | undefined {
    if ((obj.type !== "f" && obj.type !== "d") || obj.ctimeNs === st.ctimeNs.toString()) return undefined;
    try {
      return this.below(r, (p) => readXattrs(AT_FDCWD, p));
    } catch {
      return undefined;
    }
  }

  /**
   * A written file was closed: its record (and the batch before it) is committed before close
   * returns. A handle whose name is gone (unlinked while open: libfuse's hidden name) is found by
   * its inode: the content lives on under the file's other names.
   */
  private async closed(r: string, fh: number): Promise<void> {
    await this.settleContent(r, fh);
    this.batch.commit();
  }

  /**
   * Journals a written (or truncated) file: hashed whatever its size and mtime say, then attributes;
   * then every other name of its inode (hard links) follows with its own records, as a scan would
   * journal each name (a name removed later in the same CML then takes its records with it).
   */
  private async settleContent(r: string, fh?: number): Promise<void> {
    const direct = this.current(r);
    const cur = direct ?? (fh === undefined ? undefined : byHandle(this.set, fh));
    if (!cur) return;
    const close = this.extents.beginClose(inoKey(cur.st));
    this.ctx.closeExtents = close.extents;
    try {
      await recordChanges(this.ctx, cur.obj, cur.st, direct ? r : this.set.fsdb.pathOf(cur.obj.fid), true);
      const now = this.set.fsdb.get(cur.obj.fid);
      if (now) followContent(this.ctx, now, cur.st);
    } finally {
      this.ctx.closeExtents = undefined;
      close.end();
    }
  }

  /** Notes that the file at root-relative `r` is about to be truncated to `size` (written extents). */
  private truncating(r: string, size: number): void {
    const key = this.below(r, (p) => ExtentsTracker.inodeOf(p));
    if (key !== undefined) this.extents.truncated(key, () => this.resolve(r), size);
  }

  private emit(rec: NewRecord, mutate: () => void): void {
    this.ctx.journal.record(rec, mutate);
    this.ctx.report.records++;
  }

  /** Runs `fn` on the holding-location path of root-relative `r`, however long. */
  private below<T>(r: string, fn: (p: string) => T): T {
    return withPath(path.join(this.set.root, r), fn);
  }

  /** The Fsdb object at root-relative path `r`. */
  private resolve(r: string): FsObject | undefined {
    return objectAt(this.set.fsdb, r);
  }

  /** True for names the file set does not replicate (ignore rules, libfuse's hidden files). */
  private untracked(r: string): boolean {
    return FUSE_HIDDEN.test(path.posix.basename(r)) || this.ignored(r, false) || this.ignored(r, true);
  }

  /** Records that the journal may have missed an update, and settles it with a scan. */
  private suspect(reason: string): void {
    this.suspects++;
    this.set.filterEvent("suspect", { reason });
    this.rescanning ??= (async () => {
      await new Promise((r) => setTimeout(r, 0));
      await this.serial.run(async () => {
        this.rescanning = undefined;
        this.batch.commit();
        try {
          const r = await scan(this.set, { force: false });
          this.ctx.report.records += r.records;
          this.set.filterEvent("rescan", { records: r.records });
        } catch (err) {
          // e.g. MASS_DELETE: the suspect event stays the last word, so the next sync scans (and refuses).
          this.set.filterEvent("suspect", { reason: `rescan failed: ${String(err)}` });
        }
      });
    })();
  }

  /** Refuses `.intermezzo/` for lookups (ENOENT). */
  private visible(mp: string): string {
    if (isMeta(mp)) throw errnoError("ENOENT", `${mp} is reserved`);
    return mp;
  }

  /** Refuses `.intermezzo/` as a new name (EPERM). */
  private creatable(mp: string): string {
    if (isMeta(mp)) throw errnoError("EPERM", `${mp} is reserved`);
    return mp;
  }
}

/** `name` when it is an extended attribute the file set replicates; else EOPNOTSUPP. */
function carried(name: string): string {
  if (!isCarried(name)) throw errnoError("EOPNOTSUPP", `${name}: only user.* attributes and POSIX ACLs are replicated`);
  return name;
}
