/**
 * Applying a record to a holding location: the mechanism shared by the server's replay of a
 * reintegrated CML and a replica's application of update notifications (the paper: same
 * mechanism, different policy). Lento's own writes: nothing here is journaled.
 *
 * `apply` does the disk operation and returns the Fsdb change as a closure, which the caller commits
 * in one transaction with its own bookkeeping (server log append, last-seen stamp). A file is only
 * ever replaced by a complete, hash-checked temp file, and only while the file on disk is still the
 * version the Fsdb describes; otherwise `apply` throws `IO` with code detail and changes nothing.
 */
import { brief, trace } from "../trace.js";
import fs from "node:fs";
import { keepVersion } from "../conflict/store.js";
import { ImzError } from "../errors.js";
import { EMPTY_HASH } from "../journal/content-hash.js";
import { inoKey, type FileSet } from "../journal/fileset.js";
import type { Problem } from "../filter/object-stat.js";
import { mknodSpecial } from "../filter/special.js";
import { isUnsupported, readXattrs, writeXattrs } from "../filter/xattr-io.js";
import { HAS_ATTR, HAS_DATA, type FsObject, type ObjectType } from "../journal/fsdb.js";
import { carriesContent, type Attrs, type JournalRecord } from "../journal/records.js";
import { xattrsOfText, xattrsText, type Xattrs } from "../journal/xattrs.js";
import { DELTA_MIN } from "./delta-transfer.js";
import { chmodAt, chownAt, fdPath, linkAt, mkdirAt, renameAt, rmdirAt, setMtimeAt, statAt, symlinkAt, unlinkAt, type AtStat, type Place } from "./beneath.js";
import type { StagedContent } from "./content-stream.js";
import { Holding } from "./holding.js";
import { SignatureKeeper } from "./kept-signatures.js";
import { isLazy, writePlaceholder } from "./lazy.js";
import { InPlace } from "./in-place.js";
import { assertUnchanged, ReplacedWatch } from "./replaced-watch.js";

/** Options of {@link Applier}. */
export interface ApplyOptions {
  /** Set numeric ownership (only effective as root). */
  owner: boolean;
  /** Apply the extended attributes and ACLs records carry (default true; false: `--no-xattrs`). */
  xattrs?: boolean;
}

/** Applies records to one file set's holding location. */
export class Applier {
  readonly holding: Holding;
  private readonly signatures: SignatureKeeper;
  private readonly inPlace: InPlace;
  private readonly touchedDirs = new Set<string>();
  /** When set, versions this apply destroys are kept under `.intermezzo/conflicts/` first. */
  private keepReason: string | undefined;
  /** Per-path warnings of records applied all the same (extended attributes this filesystem refused). */
  private warnings: Problem[] = [];

  constructor(
    readonly set: FileSet,
    private readonly opts: ApplyOptions,
  ) {
    this.holding = new Holding(set);
    this.signatures = new SignatureKeeper(set);
    this.inPlace = new InPlace(this.holding);
  }

  /**
   * Performs `rec` on disk. Returns the Fsdb update to commit (given the version stamp the change
   * gets). `staged` carries the content of a create or close; without it, on a lazy replica, the
   * file becomes a placeholder of that content (`lazy.ts`).
   */
  async apply(rec: JournalRecord, staged?: StagedContent, keepReason?: string): Promise<(version: string) => void> {
    this.keepReason = keepReason;
    this.rel = () => this.placeOf(rec);
    trace("apply", () => ({ replica: this.set.replicaId, ...brief(rec) }), true);
    const { fsdb } = this.set;
    const h = this.holding;
    switch (rec.op) {
      case "create": {
        const placeholder = !staged && carriesContent(rec) ? this.placeholder(rec) : undefined;
        const data = staged ?? placeholder;
        if (data) await h.makeDurable(data.ticket);
        const temp = data?.temp ?? this.emptyTemp();
        const fields = { hash: data?.content.hash ?? EMPTY_HASH, flags: placeholder ? HAS_ATTR : HAS_DATA | HAS_ATTR, xattrs: "" };
        try {
          return h.atChild(rec.parent, rec.name, (dest) => {
            fields.xattrs = h.atTemp(temp, (t) => this.setAttrs(t, "f", rec.attrs, data?.content.mtimeNs)) ?? "";
            h.install(temp, dest, false);
            if (staged) staged.consumed = true;
            if (data) this.signatures.installed(rec.fid, 0, data);
            this.touchDir(rec.parent);
            const st = statAt(dest);
            return (version) => fsdb.put(this.describe(rec.fid, "f", rec.parent, rec.name, st, version, fields));
          });
        } catch (err) {
          fs.rmSync(temp, { force: true }); // not installed: nothing else refers to it
          throw err;
        }
      }
      case "mkdir":
        return h.atChild(rec.parent, rec.name, (dest) => {
          mkdirAt(dest, rec.attrs.mode ?? 0o755);
          // a directory made in one with a default ACL inherits it: the row says what it has
          const xattrs = this.setAttrs(dest, "d", { ...rec.attrs, mtimeNs: undefined }, undefined, true) ?? "";
          this.touchDir(rec.parent);
          this.touchDir(rec.fid);
          h.touched();
          const st = statAt(dest);
          return (version) => fsdb.put({ ...this.describe(rec.fid, "d", rec.parent, rec.name, st, version, { xattrs }), mtimeNs: rec.attrs.mtimeNs ?? "0" });
        });
      case "symlink":
        return h.atChild(rec.parent, rec.name, (dest) => {
          symlinkAt(rec.target, dest);
          this.setAttrs(dest, "l", rec.attrs);
          this.touchDir(rec.parent);
          h.touched();
          const st = statAt(dest);
          return (version) => fsdb.put(this.describe(rec.fid, "l", rec.parent, rec.name, st, version, { target: rec.target }));
        });
      case "mknod":
        // a FIFO or socket anyone may make; a device needs root (else EPERM: a per-path problem).
        // Made through the held directory (/proc/self/fd/N/name): the tree is not walked again.
        return h.atChild(rec.parent, rec.name, (dest) => {
          mknodSpecial(`${fdPath(dest.dir)}/${dest.name}`, rec.special, rec.attrs.mode ?? 0o644);
          this.setAttrs(dest, "s", rec.attrs);
          this.touchDir(rec.parent);
          h.touched();
          const st = statAt(dest);
          return (version) => fsdb.put(this.describe(rec.fid, "s", rec.parent, rec.name, st, version, { target: rec.special }));
        });
      case "link": {
        const target = fsdb.must(rec.target);
        return h.at(rec.target, (src) =>
          h.atChild(rec.parent, rec.name, (dest) => {
            linkAt(src, dest);
            this.touchDir(rec.parent);
            h.touched();
            const st = statAt(dest);
            return (version) => fsdb.put(this.describe(rec.fid, "f", rec.parent, rec.name, st, version, { hash: target.hash, flags: target.flags, xattrs: target.xattrs }));
          }),
        );
      }
      case "unlink":
      case "rmdir": {
        const o = fsdb.get(rec.fid);
        if (!o) return () => undefined;
        // Entries the Fsdb still has below it (moved away on disk, not journaled yet) would be
        // orphaned by removing its row even though the kernel finds the directory empty.
        if (rec.op === "rmdir" && fsdb.hasChildren(rec.fid)) {
          throw new ImzError("IO", `${fsdb.pathOf(rec.fid)}: the directory still has entries in the Fsdb`, { hint: "the next scan journals where they went; the next sync removes it", path: fsdb.pathOf(rec.fid) });
        }
        h.at(rec.fid, (p) => {
          if (rec.op === "unlink") {
            this.checkUnchanged(o, p);
            this.keep(o);
            if (o.type === "f" && o.size >= DELTA_MIN) h.retire(p, o.parent!, o.name);
            else unlinkAt(p);
            if (o.type === "f") this.signatures.installed(rec.fid, o.size);
          } else {
            rmdirAt(p);
          }
          h.touched();
        });
        this.touchDir(o.parent!);
        return () => fsdb.delete(rec.fid);
      }
      case "rename":
        return this.rename(rec);
      case "setattr": {
        const o = fsdb.must(rec.fid);
        // hard links share the attributes: their rows follow, keeping their own versions
        const links = o.type === "f" && o.ino ? fsdb.byIno(o.ino).filter((x) => x.fid !== o.fid) : [];
        return h.at(rec.fid, (p) => {
          const xattrs = this.setAttrs(p, o.type, rec.attrs);
          h.touchedAt(p, o.type);
          if (o.type === "d") this.touchDir(o.fid);
          const st = statAt(p);
          return (version) => {
            fsdb.put({ ...this.describe(o.fid, o.type, o.parent, o.name, st, version, { ...o, xattrs: xattrs ?? o.xattrs }), mtimeNs: o.type === "d" ? rec.attrs.mtimeNs ?? o.mtimeNs : st.mtimeNs.toString() });
            for (const l of links) fsdb.put(this.describe(l.fid, "f", l.parent, l.name, st, l.version, { ...l, xattrs: xattrs ?? l.xattrs }));
          };
        });
      }
      case "close":
        return this.close(rec, staged);
    }
  }

  /**
   * Restores the mtimes of directories whose entries changed (to the Fsdb's value), flushes the
   * batch to disk, then commits the file set's grouped transaction: data before metadata.
   */
  async finishBatch(): Promise<void> {
    const { fsdb } = this.set;
    for (const fid of this.touchedDirs) {
      const o = fsdb.get(fid);
      if (!o || o.type !== "d") continue;
      try {
        const st = this.holding.at(fid, (p) => {
          setMtimeAt(p, o.mtimeNs);
          return statAt(p);
        });
        fsdb.put({ ...o, mtimeNs: st.mtimeNs.toString(), ino: inoKey(st), ctimeNs: st.ctimeNs.toString() });
      } catch {
        // a directory removed later in the batch: nothing to restore
      }
    }
    this.touchedDirs.clear();
    this.holding.dropRetired();
    await this.holding.syncDirs();
    this.set.commitGroup();
    this.inPlace.forget();
    await this.signatures.commit();
  }

  /** The batch failed: its Fsdb changes roll back, and so do the files it changed in place. */
  abortBatch(): void {
    this.holding.abandonFlush();
    this.set.abortGroup();
    this.inPlace.rollBack();
  }

  private rename(rec: Extract<JournalRecord, { op: "rename" }>): (version: string) => void {
    const { fsdb } = this.set;
    const h = this.holding;
    const o = fsdb.must(rec.fid);
    const occupant = fsdb.child(rec.newParent, rec.newName);
    h.at(rec.fid, (src) =>
      h.atChild(rec.newParent, rec.newName, (dst) => {
        if (occupant && occupant.fid !== rec.replaced) {
          throw new ImzError("IO", `rename target ${rec.newName} is occupied`, { path: dst.rel });
        }
        // a file replaced by the rename is checked as a close's is: an unscanned edit is never destroyed
        const where = occupant ? fsdb.pathOf(occupant.fid) : "";
        const watch = occupant?.type === "f" ? ReplacedWatch.check(h, occupant, where) : undefined;
        let replaced = false;
        try {
          if (occupant) this.keep(occupant);
          renameAt(src, dst, !occupant);
          replaced = true;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
          throw new ImzError("IO", `rename target exists on disk but not in the Fsdb: ${dst.rel}`, { hint: "rescan the file set", path: dst.rel });
        } finally {
          const raced = watch?.settle(this.set, occupant!, where, replaced);
          if (raced) this.warnings.push(raced);
        }
        h.touched();
      }),
    );
    this.touchDir(o.parent!);
    this.touchDir(rec.newParent);
    return (version) => {
      if (occupant) fsdb.delete(occupant.fid);
      fsdb.put({ ...o, parent: rec.newParent, name: rec.newName, version });
    };
  }

  private async close(rec: Extract<JournalRecord, { op: "close" }>, received: StagedContent | undefined): Promise<(version: string) => void> {
    const { fsdb } = this.set;
    const h = this.holding;
    const o = fsdb.must(rec.fid);
    // On a lazy replica the file becomes a placeholder of its new content (fetched on next use).
    const staged = received ?? this.placeholder(rec);
    const flags = received ? HAS_DATA | HAS_ATTR : HAS_ATTR;
    if (!staged.inPlace) await h.makeDurable(staged.ticket); // in place, the undo file keeps the old version (in-place.ts)
    const links = o.ino ? fsdb.byIno(o.ino).filter((x) => x.fid !== o.fid) : [];
    const inPlace = staged.inPlace;
    let xattrs: string | undefined;
    const where = fsdb.pathOf(o.fid);
    const st = h.at(rec.fid, (p) => {
      // a new inode replaces the file: its old one is watched from the check to after the install
      const watch = inPlace ? undefined : ReplacedWatch.check(h, o, where);
      if (inPlace) this.checkUnchanged(o, p);
      let replaced = false;
      try {
        const done = this.replaceFile(rec, o, staged, links, p, (x) => (xattrs = x));
        replaced = true;
        return done;
      } finally {
        const raced = watch?.settle(this.set, o, where, replaced);
        if (raced) this.warnings.push(raced);
      }
    });
    // the rename into place (and each relink) changes the directory's mtime: restored in finishBatch
    if (!inPlace) {
      this.touchDir(o.parent!);
      for (const l of links) this.touchDir(l.parent!);
    }
    return (version) => {
      const fields = { hash: staged.content.hash, flags, xattrs: xattrs ?? o.xattrs };
      fsdb.put(this.describe(o.fid, "f", o.parent, o.name, st, version, fields));
      for (const l of links) fsdb.put(this.describe(l.fid, "f", l.parent, l.name, st, l.version, fields));
    };
  }

  /** A close's disk work at `p`: the version kept when asked, then patched in place or installed. */
  private replaceFile(rec: Extract<JournalRecord, { op: "close" }>, o: FsObject, staged: StagedContent, links: FsObject[], p: Place, gotXattrs: (x: string | undefined) => void): AtStat {
    const h = this.holding;
    const inPlace = staged.inPlace;
    this.keep(o);
    if (inPlace) {
      // the same inode, its other names and extended attributes included: nothing to relink or set
      this.inPlace.patch(o, { temp: staged.temp, ranges: inPlace.ranges, baseHash: inPlace.baseHash, size: staged.content.size, hash: staged.content.hash }, () => setMtimeAt(p, staged.content.mtimeNs));
      fs.rmSync(staged.temp, { force: true });
      staged.consumed = true;
    } else {
      // the new version is a new inode: it gets the file's attributes, its extended ones included
      const own = o.xattrs === "" ? {} : { xattrs: xattrsOfText(o.xattrs) };
      gotXattrs(h.atTemp(staged.temp, (t) => this.setAttrs(t, "f", { mode: o.mode, uid: o.uid, gid: o.gid, ...own }, staged.content.mtimeNs, false, true)));
      h.install(staged.temp, p, true);
      staged.consumed = true;
      for (const l of links) this.relink(p, l.fid);
    }
    this.signatures.installed(rec.fid, o.size, staged);
    return statAt(p);
  }

  /** Copies a version about to be destroyed aside, when this apply was asked to. */
  private keep(o: FsObject): void {
    if (this.keepReason === undefined || o.type === "d") return;
    keepVersion(this.set, o, () => this.holding.openRead(o.fid), this.set.fsdb.pathOf(o.fid), this.keepReason);
    this.holding.touched(); // the version stored aside is flushed with the batch
  }

  /** Keeps a hard link: points object `other` at the new inode of the file at `file`, atomically. */
  private relink(file: Place, other: string): void {
    const h = this.holding;
    const tmp = h.tempPath();
    h.atTemp(tmp, (t) => {
      linkAt(file, t);
      h.at(other, (o) => {
        renameAt(t, o, false);
        h.touched();
      });
    });
  }

  /** Throws unless the object on disk is still what the Fsdb recorded (never replace an unscanned change). */
  private checkUnchanged(o: FsObject, p: Place): void {
    assertUnchanged(o, statAt(p), this.set.fsdb.pathOf(o.fid));
  }

  /**
   * Sets the attributes `a` names. Returns the Fsdb text of the extended attributes the object then
   * has when they were written (or, with `readBack`, looked at), else undefined (the row's stand).
   * `own`: they are the object's own, kept across a new version, so written even with `--no-xattrs`.
   */
  private setAttrs(p: Place, type: ObjectType, a: Attrs, mtimeNs?: string, readBack = false, own = false): string | undefined {
    if (type !== "l" && a.mode !== undefined) chmodAt(p, a.mode);
    if (this.opts.owner && process.getuid?.() === 0 && (a.uid !== undefined || a.gid !== undefined)) {
      chownAt(p, a.uid ?? -1, a.gid ?? -1);
      if (type !== "l" && a.mode !== undefined && (a.mode & 0o6000) !== 0) chmodAt(p, a.mode); // chown clears set-id bits
    }
    const xattrs = type === "f" || type === "d" ? this.setXattrs(p, own || this.opts.xattrs !== false ? a.xattrs : undefined, readBack) : undefined;
    const m = mtimeNs ?? a.mtimeNs;
    if (m !== undefined) setMtimeAt(p, m);
    return xattrs;
  }

  /**
   * Makes the object's extended attributes `want` (after its mode: an access ACL has the last word
   * on the group bits). One this filesystem refuses (EOPNOTSUPP: it keeps none; or any other error)
   * is a per-path warning and the record applies all the same; the row then says what the object
   * has, so this side's next scan finds no change to send back and the sender keeps its own.
   */
  private setXattrs(p: Place, want: Xattrs | undefined, readBack: boolean): string | undefined {
    if (want === undefined && !readBack) return undefined;
    if (want !== undefined) {
      try {
        writeXattrs(p.dir, p.name, want);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const why = isUnsupported(err) ? "this filesystem keeps no extended attributes or ACLs of that kind" : e.message;
        this.warnings.push({ path: this.rel(), code: isUnsupported(err) ? "UNSUPPORTED" : e.code ?? "IO", message: `extended attributes not applied: ${why}` });
      }
    }
    try {
      return xattrsText(readXattrs(p.dir, p.name) ?? {});
    } catch {
      return undefined;
    }
  }

  /** The per-path warnings of the records applied since the last call (see {@link setXattrs}). */
  takeWarnings(): Problem[] {
    const out = this.warnings;
    this.warnings = [];
    return out;
  }

  private describe(
    fid: string,
    type: ObjectType,
    parent: string | null,
    name: string,
    st: AtStat,
    version: string,
    extra: { hash?: string; target?: string | null; flags?: number; xattrs?: string },
  ): FsObject {
    return {
      fid, type, parent, name, version,
      size: type === "f" ? Number(st.size) : 0,
      mtimeNs: st.mtimeNs.toString(),
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      hash: extra.hash ?? "",
      target: extra.target ?? null,
      flags: extra.flags ?? HAS_DATA | HAS_ATTR,
      ino: inoKey(st),
      ctimeNs: st.ctimeNs.toString(),
      xattrs: extra.xattrs ?? "",
    };
  }

  /** The path of the object the record being applied is about, for a warning. */
  private rel: () => string = () => "";

  /** Where a record's object is (or goes, for a new one), root-relative. */
  private placeOf(rec: JournalRecord): string {
    const { fsdb } = this.set;
    if (fsdb.get(rec.fid) || !("parent" in rec)) return fsdb.get(rec.fid) ? fsdb.pathOf(rec.fid) : rec.fid;
    const dir = fsdb.get(rec.parent) ? fsdb.pathOf(rec.parent) : rec.parent;
    return dir === "" ? rec.name : `${dir}/${rec.name}`;
  }

  private touchDir(fid: string): void {
    this.touchedDirs.add(fid);
  }

  /**
   * A placeholder for a record's content (lazy replicas only): a sparse temp file of the stated
   * size, described by the record's hash. Throws `RECORD_INVALID` on a replica that is not lazy.
   */
  private placeholder(rec: JournalRecord): StagedContent {
    const content = rec.op === "create" || rec.op === "close" ? rec.content : undefined;
    if (!content || !isLazy(this.set)) throw new ImzError("RECORD_INVALID", `${rec.op} of ${rec.fid} arrived without its content`);
    const temp = this.holding.tempPath();
    writePlaceholder(temp, content.size);
    return { temp, content, ticket: 0 };
  }

  private emptyTemp(): string {
    const t = this.holding.tempPath();
    fs.writeFileSync(t, "", { flag: "wx", mode: 0o600 });
    return t;
  }
}
