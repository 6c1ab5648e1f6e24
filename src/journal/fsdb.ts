/**
 * The Fsdb: one row per object of the file set (fid, type, place, version stamp, attributes,
 * content hash, flags) plus the local inode that lets the scanner recognise renames and hard links.
 */
import { ImzError } from "../errors.js";
import type { Db } from "./db.js";
import { ROOT_FID } from "./records.js";

/** Object types: regular file, directory, symbolic link. */
export type ObjectType = "f" | "d" | "l";

/** The object's data is present in this holding location (the paper's `HAS_DATA`). */
export const HAS_DATA = 1;
/** The object's attributes are current (`HAS_ATTR`). */
export const HAS_ATTR = 2;
/** This replica holds a permit to update the object (`HAS_PERMIT`). */
export const HAS_PERMIT = 4;

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
  /** Symlink target. */
  target: string | null;
  flags: number;
  /** `dev:ino` of the local inode last seen for it. */
  ino: string | null;
  ctimeNs: string | null;
}

interface Row {
  fid: string;
  type: ObjectType;
  parent: string | null;
  name: string;
  version: string;
  size: number;
  mtime_ns: string;
  mode: number;
  uid: number;
  gid: number;
  hash: string;
  target: string | null;
  flags: number;
  ino: string | null;
  ctime_ns: string | null;
}

function fromRow(r: Row): FsObject {
  return {
    fid: r.fid, type: r.type, parent: r.parent, name: r.name, version: r.version, size: r.size,
    mtimeNs: r.mtime_ns, mode: r.mode, uid: r.uid, gid: r.gid, hash: r.hash, target: r.target,
    flags: r.flags, ino: r.ino, ctimeNs: r.ctime_ns,
  };
}

function toRow(o: FsObject): Row {
  return {
    fid: o.fid, type: o.type, parent: o.parent, name: o.name, version: o.version, size: o.size,
    mtime_ns: o.mtimeNs, mode: o.mode, uid: o.uid, gid: o.gid, hash: o.hash, target: o.target,
    flags: o.flags, ino: o.ino, ctime_ns: o.ctimeNs,
  };
}

const COLUMNS = "fid,type,parent,name,version,size,mtime_ns,mode,uid,gid,hash,target,flags,ino,ctime_ns";
const PARAMS = COLUMNS.split(",").map((c) => "@" + c).join(",");

/** Typed access to the `objects` table; every method is a single prepared statement. */
export class Fsdb {
  private readonly sGet;
  private readonly sChild;
  private readonly sChildren;
  private readonly sByIno;
  private readonly sPut;
  private readonly sDelete;
  private readonly sCount;
  private readonly sHasChildren;
  private readonly sByHash;

  constructor(private readonly db: Db) {
    this.sGet = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM objects WHERE fid = ?`);
    this.sChild = db.prepare<[string, string], Row>(`SELECT ${COLUMNS} FROM objects WHERE parent = ? AND name = ?`);
    this.sChildren = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM objects WHERE parent = ?`);
    this.sByIno = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM objects WHERE ino = ?`);
    this.sPut = db.prepare<[Row], unknown>(`INSERT OR REPLACE INTO objects (${COLUMNS}) VALUES (${PARAMS})`);
    this.sDelete = db.prepare<[string], unknown>(`DELETE FROM objects WHERE fid = ?`);
    this.sCount = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM objects`);
    this.sHasChildren = db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM objects WHERE parent = ? LIMIT 1`);
    this.sByHash = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM objects WHERE type = 'f' AND hash = ? AND hash != '' LIMIT 1`);
  }

  /** The object with this fid, if known. */
  get(fid: string): FsObject | undefined {
    const r = this.sGet.get(fid);
    return r && fromRow(r);
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
    return r && fromRow(r);
  }

  /** All objects in directory `parent` (one directory's worth, never the whole tree). */
  children(parent: string): FsObject[] {
    return this.sChildren.all(parent).map(fromRow);
  }

  /** True when directory `parent` has any entry. */
  hasChildren(parent: string): boolean {
    return this.sHasChildren.get(parent) !== undefined;
  }

  /** Objects last seen at local inode `ino` (`dev:ino`): one, or several hard links. */
  byIno(ino: string): FsObject[] {
    return this.sByIno.all(ino).map(fromRow);
  }

  /** Some file whose content hash is `hash` (a local basis for a new file's transfer). */
  byHash(hash: string): FsObject | undefined {
    const r = this.sByHash.get(hash);
    return r && fromRow(r);
  }

  /** Inserts or replaces an object. */
  put(o: FsObject): void {
    this.sPut.run(toRow(o));
  }

  /** Removes an object's row. */
  delete(fid: string): void {
    this.sDelete.run(fid);
  }

  /** Number of objects, the root included. */
  count(): number {
    return this.sCount.get()!.n;
  }

  /**
   * The object's path relative to the root ("" for the root), by walking parents. Throws
   * `RECORD_INVALID` on a dangling or cyclic parent chain.
   */
  pathOf(fid: string): string {
    const parts: string[] = [];
    let cur = this.must(fid);
    for (let depth = 0; cur.parent !== null; depth++) {
      if (depth > 4096) throw new ImzError("RECORD_INVALID", `parent cycle at ${fid}`);
      parts.push(cur.name);
      cur = this.must(cur.parent);
    }
    return parts.reverse().join("/");
  }

  /** Every object below directory `fid`, deepest first (the order a recursive delete needs). */
  descendantsDeepestFirst(fid: string): FsObject[] {
    const rows = this.db
      .prepare<[string], Row & { depth: number }>(
        `WITH RECURSIVE sub(fid, depth) AS (SELECT fid, 1 FROM objects WHERE parent = ?
           UNION ALL SELECT o.fid, sub.depth + 1 FROM objects o JOIN sub ON o.parent = sub.fid)
         SELECT ${COLUMNS.split(",").map((c) => "o." + c).join(",")}, sub.depth FROM sub JOIN objects o ON o.fid = sub.fid
         ORDER BY sub.depth DESC`,
      )
      .all(fid);
    return rows.map(fromRow);
  }

  /** Renames object `from` to `to` (the holder adopted an identical object under its own fid). */
  remap(from: string, to: string): void {
    this.db.prepare(`UPDATE objects SET fid = ? WHERE fid = ?`).run(to, from);
    this.db.prepare(`UPDATE objects SET parent = ? WHERE parent = ?`).run(to, from);
  }

  /** Creates the root object if it does not exist. */
  ensureRoot(mode: number, mtimeNs: string, ino: string): void {
    if (this.get(ROOT_FID)) return;
    this.put({
      fid: ROOT_FID, type: "d", parent: null, name: "", version: "", size: 0, mtimeNs, mode,
      uid: 0, gid: 0, hash: "", target: null, flags: HAS_DATA | HAS_ATTR, ino, ctimeNs: null,
    });
  }
}
