/**
 * Conflict detection: the pure core of replay, `(server state, record) → decision`. It imports no
 * filesystem, network or clock (STYLE.md 1). Files and symlinks are checked by exact version;
 * directories per name (Coda), so unrelated changes in one directory never conflict. A directory's
 * own version is not checked at all: its mtime moves with every entry change on either side, so a
 * directory's attributes are last-writer-wins, and its rename or removal is checked by its place
 * (renamed elsewhere on the server → conflict) and, for removal, by emptiness. The same change made
 * on both sides is `identical`, not a conflict.
 */
import type { FsObject, ObjectType } from "../journal/fsdb.js";
import type { Attrs, JournalRecord } from "../journal/records.js";
import { xattrsText } from "../journal/xattrs.js";

/** What replay needs to know of the server's state. */
export interface ServerView {
  get(fid: string): FsObject | undefined;
  /** The object's type alone (no row object built: asked for each placement's directory), undefined if unknown. */
  typeOf(fid: string): ObjectType | undefined;
  child(parent: string, name: string): FsObject | undefined;
  hasChildren(fid: string): boolean;
  /**
   * The version a record's base may equal besides the current one: the object's version before the
   * current reintegration touched it ("" for an object that did not exist then).
   */
  baseline(fid: string): string;
}

/** The kinds of conflict, named as DESIGN.md names them. */
export const CONFLICT_KINDS = [
  "update/update",
  "update/delete",
  "delete/update",
  "create/create",
  "rename/rename",
  "rename/update",
  "rename/delete",
  "rename/cycle",
  "delete/create-inside",
  "create/delete-parent",
  "type-change",
  "attr/update",
  "mirror/revert",
] as const;

/** One of {@link CONFLICT_KINDS}; `mirror/revert` is not found by detection: a replica's own change that a mirror from its holder reverted. */
export type ConflictKind = (typeof CONFLICT_KINDS)[number];

/** The outcome of checking one record. */
export type Decision =
  | { kind: "apply" }
  /** Already true on the server (same change on both sides, or a retried record): nothing to do. */
  | { kind: "identical"; fid: string; version: string }
  | { kind: "conflict"; conflict: ConflictKind; serverFid?: string; serverVersion?: string; detail: string };

const apply: Decision = { kind: "apply" };

function conflict(kind: ConflictKind, detail: string, server?: FsObject): Decision {
  const d: Decision = { kind: "conflict", conflict: kind, detail };
  if (server) {
    d.serverFid = server.fid;
    d.serverVersion = server.version;
  }
  return d;
}

/**
 * True when a record based on version `base` of `fid` missed a change: `base` is neither the
 * baseline (the version before this reintegration, which every record of one batch carries) nor
 * the current version (which a record made after this connection's own changes carries, as a
 * mirror's correctives do). Versions are unique stamps: a sender only knows one it was given.
 */
function stale(view: ServerView, fid: string, base: string): boolean {
  return (view.get(fid)?.version ?? "") !== base && view.baseline(fid) !== base;
}

/** True when `fid` is directory `ancestor` or somewhere below it in `view`. */
function within(view: ServerView, fid: string, ancestor: string): boolean {
  for (let cur = view.get(fid), depth = 0; cur && depth <= 4096; cur = cur.parent === null ? undefined : view.get(cur.parent), depth++) {
    if (cur.fid === ancestor) return true;
  }
  return false;
}

function same(o: FsObject): Decision {
  return { kind: "identical", fid: o.fid, version: o.version };
}

/** Decides whether `rec` applies on the server state `view`. */
export function decide(view: ServerView, rec: JournalRecord): Decision {
  switch (rec.op) {
    case "create":
    case "mkdir":
    case "symlink":
    case "mknod":
    case "link":
      return decidePlacement(view, rec);
    case "unlink":
    case "rmdir": {
      const o = view.get(rec.fid);
      if (!o) return same({ fid: rec.fid, version: "" } as FsObject); // deleted on both sides
      if (o.type === "d" ? o.parent !== rec.parent || o.name !== rec.name : stale(view, rec.fid, rec.base)) {
        return conflict("delete/update", "the server changed the object this replica deleted", o);
      }
      if (rec.op === "rmdir" && view.hasChildren(rec.fid)) return conflict("delete/create-inside", "the server has entries in the directory this replica deleted", o);
      return apply;
    }
    case "rename": {
      const o = view.get(rec.fid);
      if (!o) return conflict("rename/delete", "the server deleted the object this replica renamed");
      if (o.parent === rec.newParent && o.name === rec.newName) return same(o);
      const moved = o.parent !== rec.parent || o.name !== rec.name;
      if (o.type === "d" ? moved : stale(view, rec.fid, rec.base)) {
        return conflict(moved ? "rename/rename" : "rename/update", "the server changed the object this replica renamed", o);
      }
      const dir = view.get(rec.newParent);
      if (!dir || dir.type !== "d") return conflict("create/delete-parent", "the server deleted the directory this replica moved into", dir);
      if (o.type === "d" && within(view, rec.newParent, rec.fid)) {
        return conflict("rename/cycle", "the server moved the directory this replica moved into inside the one it moved", dir);
      }
      const occ = view.child(rec.newParent, rec.newName);
      if (occ && occ.fid !== rec.replaced) return conflict("create/create", "the server has another object at the rename's target name", occ);
      if (occ && rec.replacedBase !== undefined && stale(view, occ.fid, rec.replacedBase)) {
        return conflict("update/delete", "the server changed the object this replica's rename replaced", occ);
      }
      return apply;
    }
    case "setattr": {
      const o = view.get(rec.fid);
      if (!o) return conflict("update/delete", "the server deleted the object whose attributes this replica changed");
      if (attrsHeld(o, rec.attrs)) return same(o);
      if (o.type !== "d" && stale(view, rec.fid, rec.base)) return conflict("attr/update", "the server changed the object whose attributes this replica changed", o);
      return apply;
    }
    case "close": {
      const o = view.get(rec.fid);
      if (!o) return conflict("update/delete", "the server deleted the file this replica changed");
      if (o.type === "f" && o.hash === rec.content.hash && rec.content.hash !== "") return same(o);
      if (stale(view, rec.fid, rec.base)) return conflict("update/update", "both sides changed the file", o);
      return apply;
    }
  }
}

function decidePlacement(view: ServerView, rec: Extract<JournalRecord, { op: "create" | "mkdir" | "symlink" | "mknod" | "link" }>): Decision {
  const existing = view.get(rec.fid);
  if (existing && existing.parent === rec.parent && existing.name === rec.name) return same(existing);
  const dirType = view.typeOf(rec.parent);
  if (dirType !== "d") return conflict("create/delete-parent", "the server deleted the directory this replica created in", dirType === undefined ? undefined : view.get(rec.parent));
  const occ = view.child(rec.parent, rec.name);
  if (!occ) {
    if (rec.op === "link" && !view.get(rec.target)) return conflict("update/delete", "the server deleted the file this replica linked to");
    return apply;
  }
  const wanted = rec.op === "mkdir" ? "d" : rec.op === "symlink" ? "l" : rec.op === "mknod" ? "s" : "f";
  if (occ.type !== wanted) return conflict("type-change", `the server has a ${typeName(occ.type)} where this replica made a ${typeName(wanted)}`, occ);
  switch (rec.op) {
    case "mkdir":
      return same(occ); // both made the directory: merge
    case "symlink":
      return occ.target === rec.target ? same(occ) : conflict("create/create", "both sides made a symlink with different targets", occ);
    case "mknod":
      return occ.target === rec.special ? same(occ) : conflict("create/create", "both sides made a special file of different kinds", occ);
    case "create":
      return rec.content && rec.content.hash !== "" && occ.hash === rec.content.hash
        ? same(occ)
        : conflict("create/create", "both sides made a file with different content", occ);
    case "link": {
      const target = view.get(rec.target);
      return target && target.hash === occ.hash ? same(occ) : conflict("create/create", "both sides made a file at this name", occ);
    }
  }
}

function typeName(t: string): string {
  return t === "d" ? "directory" : t === "l" ? "symlink" : t === "s" ? "special file" : "file";
}

/** True when the object already has every attribute the record sets. */
function attrsHeld(o: FsObject, a: Attrs): boolean {
  return (
    (a.mode === undefined || a.mode === o.mode) &&
    (a.uid === undefined || a.uid === o.uid) &&
    (a.gid === undefined || a.gid === o.gid) &&
    (a.mtimeNs === undefined || a.mtimeNs === o.mtimeNs) &&
    (a.xattrs === undefined || xattrsText(a.xattrs) === o.xattrs)
  );
}
