/**
 * The Fsdb: one row per object of the file set (fid, type, place, version stamp, attributes,
 * content hash, flags) plus the local inode that lets the scanner recognise renames and hard links.
 */
import { trace } from "../trace.js";
import { ImzError } from "../errors.js";
import type { Db } from "./db.js";
import { ROOT_FID } from "./records.js";

/** Object types: regular file, directory, symbolic link. */
/** File, directory, symlink, or special file (FIFO, socket, device; its kind in `target`, see `SpecialSchema`). */
export type ObjectType = "f" | "d" | "l" | "s";

/** The object's data is present in this holding location (the paper's `HAS_DATA`). */
export const HAS_DATA = 1;
/** The object's attributes are current (`HAS_ATTR`). */
export const HAS_ATTR = 2;

/** One Fsdb row. */
export interface FsObject {
  fid: string;
  type: ObjectType;
  /** Parent directory's fid; null only for the root. */
  parent: string | null;
  name: string;
  /** Version stamp the server gave the object's current state; "" if never stamped. */
  version: string;
  size: number;
  mtimeNs: string;
  mode: number;
  uid: number;
  gid: number;
  /** Whole-file content hash (files only); "" when unknown. */
  hash: string;
  /** Symlink target; a special file's kind (`p`, `s`, `c:RDEV`, `b:RDEV`). */
  target: string | null;
  flags: number;
  /** `dev:ino` of the local inode last seen for it. */
  ino: string | null;
  ctimeNs: string | null;
  /** The replicated extended attributes and ACLs as `xattrsText` writes them; "" for none. */
  xattrs: string;
}

/**
 * True for a file whose data is not in the holding location: a lazy replica's *placeholder*, a
 * sparse file of the right size whose bytes are never its content (see `src/sync/lazy.ts`).
 */
export function isPlaceholder(o: FsObject | undefined): boolean {
  return o !== undefined && o.type === "f" && (o.flags & HAS_DATA) === 0;
}

/** Table columns, in the order of {@link FIELDS}. */
const COLUMNS = "fid,type,parent,name,version,size,mtime_ns,mode,uid,gid,hash,target,flags,ino,ctime_ns,xattrs";
/** {@link FsObject} field for each column. */
const FIELDS = "fid,type,parent,name,version,size,mtimeNs,mode,uid,gid,hash,target,flags,ino,ctimeNs,xattrs";
/** The columns selected under their {@link FsObject} names, so rows need no conversion. */
const SELECT = COLUMNS.split(",").map((c, i) => `${c} AS ${FIELDS.split(",")[i]}`).join(",");
const PARAMS = FIELDS.split(",").map(() => "?").join(",");

/** A row as `.raw()` gives it: the columns in {@link COLUMNS} order. */
type RawRow = [string, ObjectType, string | null, string, string, number, string, number, number, number, string, string | null, number, string | null, string | null, string];

/**
 * The {@link FsObject} of a raw row. Rows are read raw and built here: better-sqlite3's keyed row
 * objects cost about 40% more per `get` (a first copy reads several rows per file).
 */
function objectOf(r: RawRow): FsObject {
  return { fid: r[0], type: r[1], parent: r[2], name: r[3], version: r[4], size: r[5], mtimeNs: r[6], mode: r[7], uid: r[8], gid: r[9], hash: r[10], target: r[11], flags: r[12], ino: r[13], ctimeNs: r[14], xattrs: r[15] };
}
/**
 * A row's *print*, the text `native/walk.cc` makes of an entry's stat: equal prints mean the scanner
 * would find nothing to journal (same type, inode, ctime, size, mtime, mode, owner). NULL (never
 * equal) while the row has no local inode or ctime.
 */
const PRINT = `type||':'||ino||':'||ctime_ns||':'||(CASE type WHEN 'f' THEN size ELSE 0 END)||':'||mtime_ns||':'||mode||':'||uid||':'||gid`;

/**
 * A directory's rows as one text, `name/print/name/print...` in name order (bytewise, as
 * `native/walk.cc` sorts), a row without a print as `?`: it equals the walk's text of the directory
 * exactly when every name is there with an equal print and nothing else is.
 */
const WHOLE = `SELECT group_concat(name || '/' || ifnull(${PRINT}, '?'), '/' ORDER BY name) FROM objects WHERE parent = ?`;

/** One row of {@link Fsdb.childPrints}: name, fid, type and print. */
export type ChildPrint = [name: string, fid: string, type: ObjectType, print: string | null];

/** Typed access to the `objects` table; every method is a single prepared statement. */
export class Fsdb {
  private readonly sGet;
  private readonly sChild;
  private readonly sChildren;
  private readonly sByIno;
  private readonly sPut;
  private readonly sForgetDir;
  private readonly sForgetOldDir;
  private readonly sDelete;
  private readonly sCount;
  private readonly sHasChildren;
  private readonly sByHash;
  private readonly sSetVersion;
  private readonly sSetLocal;
  private readonly sChildFid;
  private readonly sSubdir;
  private readonly sSubdirFids;
  private readonly sChildPrints;
  private readonly sChildrenWhole;
  private readonly sWholeDigest;
  private readonly sPutWholeDigest;
  private readonly sAfter;
  private readonly sUp;
  private readonly sVersion;
  private readonly sType;
  private readonly sHash;
  private readonly sHashes;

  constructor(private readonly db: Db) {
    this.sGet = db.prepare<[string], RawRow>(`SELECT ${COLUMNS} FROM objects WHERE fid = ?`).raw();
    this.sChild = db.prepare<[string, string], RawRow>(`SELECT ${COLUMNS} FROM objects WHERE parent = ? AND name = ?`).raw();
    this.sChildren = db.prepare<[string], RawRow>(`SELECT ${COLUMNS} FROM objects WHERE parent = ?`).raw();
    this.sByIno = db.prepare<[string], RawRow>(`SELECT ${COLUMNS} FROM objects WHERE ino = ?`).raw();
    this.sPut = db.prepare<unknown[], unknown>(`INSERT OR REPLACE INTO objects (${COLUMNS}) VALUES (${PARAMS})`);
    this.sForgetDir = db.prepare<[string | null], unknown>(`DELETE FROM dir_wholes WHERE fid = ?`);
    this.sForgetOldDir = db.prepare<[string], unknown>(`DELETE FROM dir_wholes WHERE fid = (SELECT parent FROM objects WHERE fid = ?)`);
    this.sDelete = db.prepare<[string], unknown>(`DELETE FROM objects WHERE fid = ?`);
    this.sCount = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM objects`);
    this.sHasChildren = db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM objects WHERE parent = ? LIMIT 1`);
    this.sChildPrints = db.prepare<[string], ChildPrint>(`SELECT name, fid, type, ${PRINT} FROM objects WHERE parent = ?`).raw();
    this.sChildrenWhole = db.prepare<[string], string | null>(WHOLE).pluck();
    this.sWholeDigest = db.prepare<[string], Buffer>(`SELECT digest FROM dir_wholes WHERE fid = ?`).pluck();
    this.sPutWholeDigest = db.prepare<[string, Buffer], unknown>(`INSERT OR REPLACE INTO dir_wholes (fid, digest) VALUES (?, ?)`);
    this.sChildFid = db.prepare<[string, string], string>(`SELECT fid FROM objects WHERE parent = ? AND name = ?`).pluck();
    this.sSubdir = db
      .prepare<[string, string], [string, Buffer | null]>(`SELECT o.fid, w.digest FROM objects o LEFT JOIN dir_wholes w ON w.fid = o.fid WHERE o.parent = ? AND o.name = ?`)
      .raw();
    this.sSubdirFids = db
      .prepare<[string], [string, string, Buffer | null]>(`SELECT o.name, o.fid, w.digest FROM objects o LEFT JOIN dir_wholes w ON w.fid = o.fid WHERE o.parent = ? AND o.type = 'd'`)
      .raw();
    this.sSetLocal = db.prepare<[string, string | null, string], unknown>(`UPDATE objects SET ino = ?, ctime_ns = ? WHERE fid = ?`);
    this.sSetVersion = db.prepare<[string, string], unknown>(`UPDATE objects SET version = ? WHERE fid = ?`);
    this.sUp = db.prepare<[string], [string | null, string]>(`SELECT parent, name FROM objects WHERE fid = ?`).raw();
    this.sVersion = db.prepare<[string], string>(`SELECT version FROM objects WHERE fid = ?`).pluck();
    this.sType = db.prepare<[string], ObjectType>(`SELECT type FROM objects WHERE fid = ?`).pluck();
    this.sHash = db.prepare<[string], string>(`SELECT hash FROM objects WHERE fid = ?`).pluck();
    this.sHashes = db.prepare<[string], [string, string]>(`SELECT fid, hash FROM objects WHERE fid IN (SELECT value FROM json_each(?))`).raw();
    this.sAfter = db.prepare<[string, number], RawRow>(`SELECT ${COLUMNS} FROM objects WHERE fid > ? ORDER BY fid LIMIT ?`).raw();
    this.sByHash = db.prepare<[string], RawRow>(`SELECT ${COLUMNS} FROM objects WHERE type = 'f' AND hash = ? AND hash != '' AND (flags & ${HAS_DATA}) != 0 LIMIT 1`).raw();
  }

  /** The object with this fid, if known. */
  get(fid: string): FsObject | undefined {
    const r = this.sGet.get(fid);
    return r && objectOf(r);
  }

  /** The type of object `fid`, undefined if unknown (no row object built). */
  typeOf(fid: string): ObjectType | undefined {
    return this.sType.get(fid);
  }

  /** The version stamp of object `fid` ("" if never stamped), undefined if unknown (no row object built). */
  versionOf(fid: string): string | undefined {
    return this.sVersion.get(fid);
  }

  /** The content hash of object `fid` ("" when unknown or not a file), undefined if the object is unknown. */
  hashOf(fid: string): string | undefined {
    return this.sHash.get(fid);
  }

  /** {@link hashOf} for many objects in one query: known fids only. */
  hashesOf(fids: readonly string[]): Map<string, string> {
    return new Map(this.sHashes.all(JSON.stringify(fids)));
  }

  /** The object with this fid; throws `RECORD_INVALID` if unknown. */
  must(fid: string): FsObject {
    const o = this.get(fid);
    if (!o) throw new ImzError("RECORD_INVALID", `unknown object ${fid}`);
    return o;
  }

  /** The object named `name` in directory `parent`. */
  child(parent: string, name: string): FsObject | undefined {
    const r = this.sChild.get(parent, name);
    return r && objectOf(r);
  }

  /** The fid of the object named `name` in directory `parent` (a path walk's step: no row built). */
  childFid(parent: string, name: string): string | undefined {
    return this.sChildFid.get(parent, name);
  }

  /** The fid of the object named `name` in directory `parent` and the digest remembered for it (see {@link Fsdb.subdirFids}). */
  subdir(parent: string, name: string): [fid: string, digest: Buffer | null] | undefined {
    return this.sSubdir.get(parent, name);
  }

  /**
   * Directory `parent`'s subdirectories by name (one query where a directory has many): each one's
   * fid, and the digest remembered for it ({@link Fsdb.wholeDigest}) or null.
   */
  subdirFids(parent: string): Map<string, [fid: string, digest: Buffer | null]> {
    return new Map(this.sSubdirFids.all(parent).map(([name, fid, digest]) => [name, [fid, digest]]));
  }

  /** All objects in directory `parent` (one directory's worth, never the whole tree). */
  children(parent: string): FsObject[] {
    return this.sChildren.all(parent).map(objectOf);
  }

  /** Directory `parent`'s entries as {@link ChildPrint} rows: what the scanner compares, no row objects. */
  childPrints(parent: string): ChildPrint[] {
    return this.sChildPrints.all(parent);
  }

  /** Directory `parent`'s rows as one text (see `WHOLE`); "" for none. */
  childrenWhole(parent: string): string {
    return this.sChildrenWhole.get(parent) ?? "";
  }

  /**
   * True when directory `parent`'s rows make exactly the text `whole()` (`childrenWhole(parent)`),
   * whose digest is `digest` (the walk's, `native/walk.cc`). A match is remembered as that digest,
   * which `put` and the database's triggers forget as soon as any row under `parent` changes (schema 8,
   * `dir_wholes`; schema 10, an insert in `put`): the next scan of the unchanged directory costs one lookup, with neither text made.
   */
  matchesWhole(parent: string, digest: Buffer, whole: () => string): boolean {
    if (this.remembersWhole(parent, digest)) return true;
    if (whole() !== this.childrenWhole(parent)) return false;
    this.sPutWholeDigest.run(parent, digest);
    return true;
  }

  /** The digest remembered for directory `parent` by {@link Fsdb.matchesWhole}, while its rows are unchanged. */
  wholeDigest(parent: string): Buffer | undefined {
    return this.sWholeDigest.get(parent);
  }

  /** True when `digest` is the one remembered for directory `parent` (its rows unchanged since they made that text). */
  remembersWhole(parent: string, digest: Buffer): boolean {
    const known = this.wholeDigest(parent);
    return known !== undefined && digest.equals(known);
  }

  /** True when directory `parent` has any entry. */
  hasChildren(parent: string): boolean {
    return this.sHasChildren.get(parent) !== undefined;
  }

  /** Objects last seen at local inode `ino` (`dev:ino`): one, or several hard links. */
  byIno(ino: string): FsObject[] {
    return this.sByIno.all(ino).map(objectOf);
  }

  /** Some file whose content hash is `hash` and whose data is present (a local copy source). */
  byHash(hash: string): FsObject | undefined {
    const r = this.sByHash.get(hash);
    return r && objectOf(r);
  }

  /** Files with data whose content hash is unknown ("": left for the send to hash, see `ScanOptions.hashAtSendFrom`). */
  unhashedFiles(): FsObject[] {
    return this.db.prepare<[], FsObject>(`SELECT ${SELECT} FROM objects WHERE type = 'f' AND hash = '' AND (flags & ${HAS_DATA}) != 0`).all();
  }

  /**
   * Inserts or replaces an object. The directory it joins and the one it leaves forget their
   * remembered digest (`dir_wholes`; a row REPLACE removes at the same name is in the one it joins):
   * two plain statements here cost about a third of what an insert trigger's program did.
   */
  put(o: FsObject): void {
    this.sForgetDir.run(o.parent);
    this.sForgetOldDir.run(o.fid);
    this.write(o);
  }

  /**
   * {@link Fsdb.put} of objects whose fids are new (allocated, in no row: no directory is left):
   * the directories they join forget their remembered digest once each, not once per row.
   */
  putNew(rows: readonly FsObject[]): void {
    let last: string | null | undefined;
    for (const o of rows) {
      // rows come a directory at a time: forgetting one more than once is harmless
      if (o.parent !== last) this.sForgetDir.run((last = o.parent));
    }
    for (const o of rows) this.write(o);
  }

  /** The row's `INSERT OR REPLACE`, nothing forgotten. */
  private write(o: FsObject): void {
    // positional: binding 16 named parameters from the object cost about 30% of a `put`
    this.sPut.run(o.fid, o.type, o.parent, o.name, o.version, o.size, o.mtimeNs, o.mode, o.uid, o.gid, o.hash, o.target, o.flags, o.ino, o.ctimeNs, o.xattrs);
  }

  /** Sets an object's version stamp (no-op for an unknown fid); one narrow update, no row rewrite. */
  setVersion(fid: string, version: string): void {
    this.sSetVersion.run(version, fid);
  }

  /** Refreshes the local inode fields of an object whose attributes did not change (one narrow update). */
  setLocal(fid: string, ino: string, ctimeNs: string | null): void {
    this.sSetLocal.run(ino, ctimeNs, fid);
  }

  /** Removes an object's row. */
  delete(fid: string): void {
    trace("fsdb.delete", () => ({ fid }), true);
    this.sDelete.run(fid);
  }

  /** Up to `limit` objects with fids after `fid` (`""`: from the first), in fid order. */
  after(fid: string, limit: number): FsObject[] {
    return this.sAfter.all(fid, limit).map(objectOf);
  }

  /** Every object, in fid order, read a page at a time (no statement left open between pages). */
  *every(page = 2000): Generator<FsObject> {
    for (let rows = this.after("", page); rows.length > 0; rows = this.after(rows.at(-1)!.fid, page)) yield* rows;
  }

  /** Number of objects, the root included. */
  count(): number {
    return this.sCount.get()!.n;
  }

  /**
   * The object's path relative to the root ("" for the root), by walking parents. Throws
   * `RECORD_INVALID` on a dangling or cyclic parent chain. With `dirs`, the paths of parent
   * directories are taken from it and added to it (for many look-ups over one unchanging snapshot:
   * the caller's read transaction).
   */
  pathOf(fid: string, dirs?: Map<string, string>): string {
    const parts: string[] = [];
    // each step reads only parent and name (a whole row object per ancestor cost more than the walk)
    const up = (f: string): [string | null, string] => {
      const row = this.sUp.get(f);
      if (!row) throw new ImzError("RECORD_INVALID", `unknown object ${f}`);
      return row;
    };
    let [parent, name] = up(fid);
    if (dirs !== undefined && parent !== null) {
      let dir = dirs.get(parent);
      if (dir === undefined) dirs.set(parent, (dir = this.pathOf(parent)));
      return dir === "" ? name : `${dir}/${name}`;
    }
    for (let depth = 0; parent !== null; depth++) {
      if (depth > 4096) throw new ImzError("RECORD_INVALID", `parent cycle at ${fid}`);
      parts.push(name);
      [parent, name] = up(parent);
    }
    return parts.reverse().join("/");
  }

  /** Every object below directory `fid`, deepest first (the order a recursive delete needs). */
  descendantsDeepestFirst(fid: string): FsObject[] {
    const rows = this.db
      .prepare<[string], FsObject & { depth: number }>(
        `WITH RECURSIVE sub(fid, depth) AS (SELECT fid, 1 FROM objects WHERE parent = ?
           UNION ALL SELECT o.fid, sub.depth + 1 FROM objects o JOIN sub ON o.parent = sub.fid)
         SELECT ${SELECT.split(",").map((c) => "o." + c).join(",")}, sub.depth FROM sub JOIN objects o ON o.fid = sub.fid
         ORDER BY sub.depth DESC`,
      )
      .all(fid);
    return rows.map(({ depth: _depth, ...o }) => o);
  }

  /** Renames object `from` to `to` (the holder adopted an identical object under its own fid). */
  remap(from: string, to: string): void {
    trace("fsdb.remap", () => ({ from, to }), true);
    this.db.prepare(`UPDATE objects SET fid = ? WHERE fid = ?`).run(to, from);
    this.db.prepare(`UPDATE objects SET parent = ? WHERE parent = ?`).run(to, from);
  }

  /** Creates the root object if it does not exist. */
  ensureRoot(mode: number, mtimeNs: string, ino: string): void {
    if (this.get(ROOT_FID)) return;
    this.put({
      fid: ROOT_FID, type: "d", parent: null, name: "", version: "", size: 0, mtimeNs, mode,
      uid: 0, gid: 0, hash: "", target: null, flags: HAS_DATA | HAS_ATTR, ino, ctimeNs: null, xattrs: "",
    });
  }
}
