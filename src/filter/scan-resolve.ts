/**
 * The scanner's second pass: turns new-identity entries and vanished objects into records in an
 * order the server can replay. Invariants: a name is freed (its old object renamed away or deleted)
 * before anything is placed there; a new directory exists before anything is placed in it; objects
 * moved out of a deleted directory are moved before the directory is removed; a rename cycle (a swap)
 * is broken through a temporary name.
 */
import fs from "node:fs";
import { hashFileAsStated } from "../journal/content-hash.js";
import { inoKey } from "../journal/fileset.js";
import { HAS_ATTR, HAS_DATA, type FsObject, type ObjectType } from "../journal/fsdb.js";
import { fsPath, readTarget } from "../journal/names.js";
import type { NewRecord } from "../journal/records.js";
import { xattrsText } from "../journal/xattrs.js";
import { attrsOf, localFields, reborn, specialOf, type EntryStat } from "./object-stat.js";
import { massDelete, problem, recordChanges, seenCtime, xattrsOnDisk, type ScanContext } from "./scan-record.js";
import type { WalkedRead } from "./walk.js";

/** An entry whose identity is new at its place (renamed here, hard-linked, or created). */
export interface Found {
  parent: string;
  name: string;
  rel: string;
  type: ObjectType;
  st: EntryStat;
  /** The object's fid: the known object's for a rename, a new one otherwise. */
  fid: string;
  kind?: "rename" | "new" | "link";
  /** For a hard link: the fid of the object it links to. */
  linkTarget?: string;
  /** A file's content hash and whether it has extended attributes, as the walk read them after `st` (`walk.ts`), when it did. */
  read?: WalkedRead;
}

/**
 * False for a known symlink whose link on disk now points elsewhere. Symlinks never change their
 * target in place, so that is a new symlink that got a freed inode number back (`rm ln; ln -s other
 * ln` often does): it must be journaled as new, never matched to the old object by inode.
 */
export function sameSymlinkTarget(o: FsObject, abs: string | Buffer): boolean {
  if (o.type !== "l") return true;
  try {
    return readTarget(abs) === o.target;
  } catch {
    return true; // vanished meanwhile: the next scan sees it
  }
}

/** Collects pass-1 findings and emits pass-2 records. */
export class Resolver {
  private readonly foundList: Found[] = [];
  private readonly pendingRename = new Map<string, Found>();
  private readonly newObjects = new Map<string, Found>();
  private readonly missingObjects = new Map<string, FsObject>();
  private readonly firstNewByIno = new Map<string, string>();
  private readonly emitted = new Set<string>();
  private readonly visiting = new Set<string>();

  constructor(private readonly ctx: ScanContext) {}

  /** The answer of `ctx.newHashedAtSend`, asked at most once per scan. */
  private atSend?: Promise<boolean>;

  /** Whether a new file of `size` bytes is journaled unhashed, to be hashed as it is sent (see `ScanOptions.newHashedAtSend`). */
  private async hashedAtSend(size: number): Promise<boolean> {
    const { hashAtSendFrom, newHashedAtSend } = this.ctx;
    if (newHashedAtSend === undefined || size < (hashAtSendFrom ?? Infinity)) return false;
    this.atSend ??= newHashedAtSend().catch(() => false);
    return this.atSend;
  }

  /** Objects placed at once in pass 1 (see {@link Resolver.found}): the Fsdb counts them already. */
  placedNow = 0;

  /**
   * Registers an entry with a new identity; returns the fid to descend with when it is a directory.
   * A new object that can be neither a rename nor a hard link's other name — its inode known to no
   * object, one link (or a directory or symlink), at a name no known object has, in a directory
   * that exists in the Fsdb — is journaled at once rather than held for pass 2: placing it first
   * frees no name and needs nothing placed before it. So a first scan does not hold the whole tree
   * in memory (a scan of 1,000,000 new files held more than 1 GiB).
   */
  async found(f: Found): Promise<string | undefined> {
    const key = inoKey(f.st);
    const fsdb = this.ctx.set.fsdb;
    for (const c of fsdb.byIno(key)) {
      if (c.type !== f.type || this.pendingRename.has(c.fid) || this.newObjects.has(c.fid)) continue;
      if (reborn(c, f.st) || !sameSymlinkTarget(c, fsPath(this.ctx.set.root, f.rel))) continue; // a reused inode, not a move
      if (this.stillInPlace(c, key)) {
        if (f.type === "f") f.linkTarget ??= c.fid;
        continue;
      }
      f.kind = "rename";
      f.fid = c.fid;
      this.pendingRename.set(c.fid, f);
      break;
    }
    if (f.kind === undefined) {
      f.fid = this.ctx.set.allocFid();
      if (f.linkTarget === undefined && f.type === "f" && f.st.nlink > 1n) f.linkTarget = this.firstNewByIno.get(key);
      f.kind = f.linkTarget !== undefined ? "link" : "new";
      if (f.type === "f" && f.st.nlink > 1n && !this.firstNewByIno.has(key)) this.firstNewByIno.set(key, f.fid);
      if (f.kind === "new" && this.placeableNow(f)) {
        try {
          // journaled with the directory's other births (`Journal.defer`, until `directoryDone`)
          const { rec, row } = await this.birth(f);
          this.ctx.journal.defer(rec, row, () => this.unplaced(f));
          this.placedNow++;
          this.ctx.report.records++;
          return f.type === "d" ? f.fid : undefined;
        } catch {
          // left for pass 2, which tries again and reports the problem
        }
      }
      this.newObjects.set(f.fid, f);
    }
    this.foundList.push(f);
    return f.type === "d" ? f.fid : undefined;
  }

  /** A birth deferred by {@link Resolver.found} could not be written: it is left for pass 2, as when it fails at once. */
  private unplaced(f: Found): void {
    this.placedNow--;
    this.ctx.report.records--;
    this.newObjects.set(f.fid, f);
    this.foundList.push(f);
  }

  /**
   * The directory pass 1 is comparing, once {@link Resolver.placeableNow} was asked about one of its
   * entries: known to be in the Fsdb (pass 1 removes no row), and whether it then had no entries
   * there. Its listing's names are its own, and its births are not in the Fsdb before
   * {@link Resolver.directoryDone}, so in such a directory no row can be at a new entry's name.
   */
  private dir: { fid: string; empty: boolean } | undefined;

  /**
   * Pass 1 compared a directory's every entry: the births it found are journaled, together
   * (`Journal.flush`), and the directory is no longer the one being compared.
   */
  directoryDone(): void {
    this.dir = undefined;
    this.ctx.journal.flush();
  }

  /** See {@link Resolver.found}: a new object pass 1 may journal at once. */
  private placeableNow(f: Found): boolean {
    const { fsdb } = this.ctx.set;
    if (f.type === "s" || (f.type === "f" && f.st.nlink > 1n)) return false;
    if (this.dir?.fid !== f.parent) {
      // once per directory, not per entry (a first copy asked both for each of its files)
      if (fsdb.versionOf(f.parent) === undefined) return false;
      this.dir = { fid: f.parent, empty: !fsdb.hasChildren(f.parent) };
    }
    return this.dir.empty || fsdb.childFid(f.parent, f.name) === undefined;
  }

  /** Registers a known object no longer seen at its place (deleted, or moved and found elsewhere). */
  missing(o: FsObject): void {
    this.missingObjects.set(o.fid, o);
  }

  /**
   * Throws `MASS_DELETE` if the deletions this scan would journal exceed the threshold. `total`
   * (the objects the tree had) is asked only when there are deletions: counting the Fsdb's rows
   * costs a few ms per scan of 30,000 files, and a scan without deletions never needs it.
   */
  checkDeletes(total: () => number, fraction: number, force: boolean): void {
    if (force || this.missingObjects.size === 0) return;
    let count = 0;
    for (const o of this.missingObjects.values()) {
      if (this.pendingRename.has(o.fid)) continue;
      count += 1 + (o.type === "d" ? this.ctx.set.fsdb.descendantsDeepestFirst(o.fid).filter((d) => !this.pendingRename.has(d.fid)).length : 0);
    }
    const objects = total() - 1;
    if ((count >= 2 && count >= objects) || (objects >= 10 && count > fraction * objects)) throw massDelete(count, objects);
  }

  /** Emits every pending record. */
  async resolve(): Promise<void> {
    for (const f of this.foundList) await this.place(f);
    for (const o of this.missingObjects.values()) {
      if (!this.pendingRename.has(o.fid) && this.ctx.set.fsdb.get(o.fid)) await this.remove(o);
    }
  }

  private stillInPlace(c: FsObject, key: string): boolean {
    try {
      const st = fs.lstatSync(fsPath(this.ctx.set.root, this.ctx.set.fsdb.pathOf(c.fid)), { bigint: true });
      return inoKey(st) === key;
    } catch {
      return false;
    }
  }

  private async place(f: Found): Promise<void> {
    if (this.emitted.has(f.fid) || this.visiting.has(f.fid)) return;
    this.visiting.add(f.fid);
    const parent = this.newObjects.get(f.parent);
    if (parent) await this.place(parent);
    await this.ensureFree(f.parent, f.name, f.fid);
    try {
      await this.emitPlacement(f);
    } catch (err) {
      problem(this.ctx, f.rel, err);
    }
    this.visiting.delete(f.fid);
    this.emitted.add(f.fid);
  }

  private async emitPlacement(f: Found): Promise<void> {
    const { set } = this.ctx;
    const time = Date.now();
    if (f.kind === "rename") {
      const o = set.fsdb.must(f.fid);
      this.emit({ op: "rename", fid: o.fid, time, parent: o.parent!, name: o.name, newParent: f.parent, newName: f.name, base: o.version }, () =>
        set.fsdb.put({ ...o, parent: f.parent, name: f.name }),
      );
      await recordChanges(this.ctx, set.fsdb.must(f.fid), f.st, f.rel);
      return;
    }
    if (f.kind === "link") {
      const targetNew = this.newObjects.get(f.linkTarget!);
      if (targetNew) await this.place(targetNew);
      const target = set.fsdb.must(f.linkTarget!);
      this.emit({ op: "link", fid: f.fid, time, parent: f.parent, name: f.name, target: target.fid, targetBase: target.version }, () =>
        set.fsdb.put({ ...this.baseRow(f), hash: target.hash, flags: target.flags, xattrs: target.xattrs }),
      );
      return;
    }
    const { rec, row } = await this.birth(f);
    this.emit(rec, () => set.fsdb.put(row));
  }

  /**
   * The record and Fsdb row of new object `f` (not a rename or a link): a create (its content hashed,
   * or the walk's hash), a mkdir, a symlink (its target read) or a mknod, with its extended attributes.
   */
  private async birth(f: Found): Promise<{ rec: NewRecord; row: FsObject }> {
    const time = Date.now();
    const abs = fsPath(this.ctx.set.root, f.rel);
    const base = this.baseRow(f);
    const placed = { fid: f.fid, time, parent: f.parent, name: f.name };
    // a new file or directory's extended attributes, when it has any (compared as for a changed ctime)
    const xattrs = f.read?.noXattrs === true ? {} : (xattrsOnDisk(this.ctx, { type: f.type, ctimeNs: null }, f.st, f.rel) ?? {});
    const withX = Object.keys(xattrs).length > 0 ? { xattrs } : {};
    switch (f.type) {
      case "f": {
        const hash = (await this.hashedAtSend(Number(f.st.size))) ? "" : (f.read?.hash ?? (await hashFileAsStated(abs, f.st)));
        if (hash !== "") this.ctx.report.hashedBytes += Number(f.st.size);
        const content = { size: Number(f.st.size), mtimeNs: f.st.mtimeNs.toString(), hash };
        return { rec: { op: "create", ...placed, attrs: { ...attrsOf(f.st), ...withX }, content }, row: { ...base, hash, xattrs: xattrsText(xattrs) } };
      }
      case "d":
        return { rec: { op: "mkdir", ...placed, attrs: { ...attrsOf(f.st), ...withX } }, row: { ...base, hash: "", xattrs: xattrsText(xattrs) } };
      case "l": {
        const target = readTarget(abs);
        return { rec: { op: "symlink", ...placed, target, attrs: attrsOf(f.st) }, row: { ...base, hash: "", target } };
      }
      case "s": {
        const special = specialOf(f.st);
        return { rec: { op: "mknod", ...placed, special, attrs: attrsOf(f.st) }, row: { ...base, hash: "", target: special } };
      }
    }
  }

  /** The Fsdb row of new object `f` as found (no hash, target or extended attributes yet). */
  private baseRow(f: Found): FsObject {
    // ctime null while extended attributes are not compared (`seenCtime`): the next scan that does reads them
    const ctimeNs = seenCtime(this.ctx, { type: f.type, ctimeNs: null }, f.st);
    return { fid: f.fid, type: f.type, parent: f.parent, name: f.name, version: "", ...localFields(f.st), ctimeNs, hash: "", target: null, flags: HAS_DATA | HAS_ATTR, xattrs: "" };
  }

  /** Frees `(parent, name)` for object `self`: moves a pending rename away, deletes a vanished occupant. */
  private async ensureFree(parent: string, name: string, self: string): Promise<void> {
    const occ = this.ctx.set.fsdb.child(parent, name);
    if (!occ || occ.fid === self) return;
    const moving = this.pendingRename.get(occ.fid);
    if (moving && !this.emitted.has(occ.fid)) {
      if (this.visiting.has(occ.fid)) {
        const aside = `.imz-swap-${occ.fid.replace(":", "-")}`;
        this.emit(
          { op: "rename", fid: occ.fid, time: Date.now(), parent, name, newParent: parent, newName: aside, base: occ.version },
          () => this.ctx.set.fsdb.put({ ...occ, name: aside }),
        );
        return;
      }
      await this.place(moving);
      return;
    }
    await this.remove(occ);
  }

  private async remove(o: FsObject): Promise<void> {
    if (this.emitted.has(o.fid)) return;
    this.emitted.add(o.fid);
    const { set } = this.ctx;
    if (o.type === "d") {
      for (const child of set.fsdb.children(o.fid)) {
        const moving = this.pendingRename.get(child.fid);
        if (moving && !this.emitted.has(child.fid)) await this.place(moving);
        else await this.remove(child);
      }
    }
    const op = o.type === "d" ? "rmdir" : "unlink";
    this.emit({ op, fid: o.fid, time: Date.now(), parent: o.parent!, name: o.name, base: o.version }, () => set.fsdb.delete(o.fid));
  }

  private emit(rec: NewRecord, mutate: () => void): void {
    this.ctx.journal.record(rec, mutate);
    this.ctx.report.records++;
  }
}
