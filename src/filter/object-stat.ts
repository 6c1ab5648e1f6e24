/**
 * Translating what `lstat` says about an object into Fsdb fields and record attributes, and the
 * per-path problem list that scans and syncs return instead of throwing (one unreadable file never
 * aborts a run).
 */
import type fs from "node:fs";
import { inoKey } from "../journal/fileset.js";
import type { FsObject, ObjectType } from "../journal/fsdb.js";
import type { Attrs } from "../journal/records.js";

/** A path that could not be handled, and why. Returned as data, never thrown. */
export interface Problem {
  path: string;
  code: string;
  message: string;
}

/** The object type of a stat result: `s` for FIFOs, sockets and devices. */
export function typeOf(st: fs.BigIntStats): ObjectType | undefined {
  if (st.isFile()) return "f";
  if (st.isDirectory()) return "d";
  if (st.isSymbolicLink()) return "l";
  if (st.isFIFO() || st.isSocket() || st.isCharacterDevice() || st.isBlockDevice()) return "s";
  return undefined;
}

/** A special file's kind as records and the Fsdb keep it (`SpecialSchema`): `p`, `s`, `c:RDEV`, `b:RDEV`. */
export function specialOf(st: fs.BigIntStats): string {
  if (st.isFIFO()) return "p";
  if (st.isSocket()) return "s";
  return `${st.isCharacterDevice() ? "c" : "b"}:${st.rdev}`;
}

/** The attributes a record carries for a stat result. */
export function attrsOf(st: fs.BigIntStats): Required<Attrs> {
  return { mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs.toString() };
}

/**
 * True when `st`'s inode was born after the Fsdb last saw the object's inode (its recorded ctime):
 * the object was deleted and its freed inode number given to a new object, so `st` is not the
 * object, whatever its number says. ext4 gives a freed number to the very next file created, so
 * `rm old; echo > new` between two scans would otherwise pass for a rename of old to new. A
 * filesystem without birth times reports 0, and the inode number alone decides, as before.
 */
export function reborn(o: FsObject, st: fs.BigIntStats): boolean {
  return o.ctimeNs !== null && st.birthtimeNs > BigInt(o.ctimeNs);
}

/** True when `st` is the object's own inode: the same number, and not {@link reborn}. */
export function sameInode(o: FsObject, st: fs.BigIntStats): boolean {
  return o.ino === inoKey(st) && !reborn(o, st);
}

/** Which attributes differ between an Fsdb object and a stat result (empty when none). */
export function changedAttrs(o: FsObject, st: fs.BigIntStats): Attrs {
  const a = attrsOf(st);
  const out: Attrs = {};
  if (o.type !== "l" && a.mode !== o.mode) out.mode = a.mode;
  if (a.uid !== o.uid) out.uid = a.uid;
  if (a.gid !== o.gid) out.gid = a.gid;
  if (a.mtimeNs !== o.mtimeNs) out.mtimeNs = a.mtimeNs;
  return out;
}

/** True when `st` may hold different file content than the object recorded (size or mtime moved). */
export function contentMayDiffer(o: FsObject, st: fs.BigIntStats): boolean {
  return Number(st.size) !== o.size || st.mtimeNs.toString() !== o.mtimeNs;
}

/** Fsdb fields that describe the local object as `st` shows it. */
export function localFields(st: fs.BigIntStats): Pick<FsObject, "size" | "mtimeNs" | "mode" | "uid" | "gid" | "ino" | "ctimeNs"> {
  const a = attrsOf(st);
  return {
    size: st.isFile() ? Number(st.size) : 0,
    mtimeNs: a.mtimeNs,
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    ino: inoKey(st),
    ctimeNs: st.ctimeNs.toString(),
  };
}

/** True when an attrs object sets nothing. */
export function isEmptyAttrs(a: Attrs): boolean {
  return a.mode === undefined && a.uid === undefined && a.gid === undefined && a.mtimeNs === undefined;
}
