/**
 * Translating what `lstat` says about an object into Fsdb fields and record attributes, and the
 * per-path problem list that scans and syncs return instead of throwing (one unreadable file never
 * aborts a run).
 */
import type fs from "node:fs";
import { inoKey } from "../journal/fileset.js";
import type { FsObject, ObjectType } from "../journal/fsdb.js";
import type { Attrs, NewRecord } from "../journal/records.js";
import { parseXattrsText, xattrsText, type Xattrs } from "../journal/xattrs.js";

/**
 * The part of a BigInt `lstat` result the scanner and the filters use. The scanner keeps one per
 * entry with a new identity until pass 2, so it keeps these fields only ({@link entryStat}), about
 * a third of what a whole `BigIntStats` holds.
 */
export type EntryStat = Pick<
  fs.BigIntStats,
  | "dev"
  | "ino"
  | "mode"
  | "nlink"
  | "uid"
  | "gid"
  | "rdev"
  | "size"
  | "mtimeNs"
  | "ctimeNs"
  | "birthtimeNs"
  | "isFile"
  | "isDirectory"
  | "isSymbolicLink"
  | "isFIFO"
  | "isSocket"
  | "isCharacterDevice"
  | "isBlockDevice"
>;

/** The fields of {@link EntryStat}, with the type tests on a shared prototype. */
class CompactStat implements EntryStat {
  constructor(
    readonly dev: bigint,
    readonly ino: bigint,
    readonly mode: bigint,
    readonly nlink: bigint,
    readonly uid: bigint,
    readonly gid: bigint,
    readonly rdev: bigint,
    readonly size: bigint,
    readonly mtimeNs: bigint,
    readonly ctimeNs: bigint,
    readonly birthtimeNs: bigint,
  ) {}

  isFile(): boolean {
    return this.format() === 0o100000n;
  }

  isDirectory(): boolean {
    return this.format() === 0o040000n;
  }

  isSymbolicLink(): boolean {
    return this.format() === 0o120000n;
  }

  isFIFO(): boolean {
    return this.format() === 0o010000n;
  }

  isSocket(): boolean {
    return this.format() === 0o140000n;
  }

  isCharacterDevice(): boolean {
    return this.format() === 0o020000n;
  }

  isBlockDevice(): boolean {
    return this.format() === 0o060000n;
  }

  private format(): bigint {
    return this.mode & 0o170000n;
  }
}

/** A compact copy of what {@link EntryStat} needs of a stat result. */
export function entryStat(st: EntryStat): EntryStat {
  return compactStat(st.dev, st.ino, st.mode, st.nlink, st.uid, st.gid, st.rdev, st.size, st.mtimeNs, st.ctimeNs, st.birthtimeNs);
}

/** An {@link EntryStat} of these fields (as `lstat` would report them; see `walk.ts` `fileStat`). */
export function compactStat(
  dev: bigint,
  ino: bigint,
  mode: bigint,
  nlink: bigint,
  uid: bigint,
  gid: bigint,
  rdev: bigint,
  size: bigint,
  mtimeNs: bigint,
  ctimeNs: bigint,
  birthtimeNs: bigint,
): EntryStat {
  return new CompactStat(dev, ino, mode, nlink, uid, gid, rdev, size, mtimeNs, ctimeNs, birthtimeNs);
}

/** A path that could not be handled, and why. Returned as data, never thrown. */
export interface Problem {
  path: string;
  code: string;
  message: string;
}

/** The object type of a stat result: `s` for FIFOs, sockets and devices. */
export function typeOf(st: EntryStat): ObjectType | undefined {
  if (st.isFile()) return "f";
  if (st.isDirectory()) return "d";
  if (st.isSymbolicLink()) return "l";
  if (st.isFIFO() || st.isSocket() || st.isCharacterDevice() || st.isBlockDevice()) return "s";
  return undefined;
}

/** A special file's kind as records and the Fsdb keep it (`SpecialSchema`): `p`, `s`, `c:RDEV`, `b:RDEV`. */
export function specialOf(st: EntryStat): string {
  if (st.isFIFO()) return "p";
  if (st.isSocket()) return "s";
  return `${st.isCharacterDevice() ? "c" : "b"}:${st.rdev}`;
}

/** The attributes a record carries for a stat result (extended attributes aside). */
export function attrsOf(st: EntryStat): Required<Omit<Attrs, "xattrs">> {
  return { mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs.toString() };
}

/**
 * True when `st`'s inode was born after the Fsdb last saw the object's inode (its recorded ctime):
 * the object was deleted and its freed inode number given to a new object, so `st` is not the
 * object, whatever its number says. ext4 gives a freed number to the very next file created, so
 * `rm old; echo > new` between two scans would otherwise pass for a rename of old to new. A
 * filesystem without birth times reports 0, and the inode number alone decides, as before.
 */
export function reborn(o: FsObject, st: EntryStat): boolean {
  return o.ctimeNs !== null && st.birthtimeNs > BigInt(o.ctimeNs);
}

/** True when `st` is the object's own inode: the same number, and not {@link reborn}. */
export function sameInode(o: FsObject, st: EntryStat): boolean {
  return o.ino === inoKey(st) && !reborn(o, st);
}

/**
 * Which attributes differ between an Fsdb object and a stat result (empty when none); `xattrs`, the
 * object's set as read from disk, is compared when given (the whole set when it differs).
 */
export function changedAttrs(o: FsObject, st: EntryStat, xattrs?: Xattrs): Attrs {
  const a = attrsOf(st);
  const out: Attrs = {};
  if (o.type !== "l" && a.mode !== o.mode) out.mode = a.mode;
  if (a.uid !== o.uid) out.uid = a.uid;
  if (a.gid !== o.gid) out.gid = a.gid;
  if (a.mtimeNs !== o.mtimeNs) out.mtimeNs = a.mtimeNs;
  if (xattrs !== undefined && xattrsText(xattrs) !== o.xattrs) out.xattrs = xattrs;
  return out;
}

/**
 * The attributes a record sets to make an object as its row describes it (a symlink has no mode;
 * files and directories their extended attributes). The row may come from a peer: its extended
 * attributes are checked (`RECORD_INVALID`).
 */
export function rowAttrs(o: FsObject): Attrs {
  if (o.type === "l") return { uid: o.uid, gid: o.gid, mtimeNs: o.mtimeNs };
  const base = { mode: o.mode, uid: o.uid, gid: o.gid, mtimeNs: o.mtimeNs };
  return o.type === "s" || o.xattrs === "" ? base : { ...base, xattrs: parseXattrsText(o.xattrs) };
}

/** The record that creates object `o` as its row describes it (content, attributes, place). */
export function placement(o: FsObject): NewRecord {
  const placed = { fid: o.fid, time: Date.now(), parent: o.parent!, name: o.name };
  const attrs = rowAttrs(o);
  if (o.type === "d") return { op: "mkdir", ...placed, attrs };
  if (o.type === "l") return { op: "symlink", ...placed, target: o.target ?? "", attrs };
  if (o.type === "s") return { op: "mknod", ...placed, special: o.target ?? "p", attrs };
  return { op: "create", ...placed, attrs, content: { size: o.size, mtimeNs: o.mtimeNs, hash: o.hash } };
}

/** True when `st` may hold different file content than the object recorded (size or mtime moved). */
export function contentMayDiffer(o: FsObject, st: EntryStat): boolean {
  return Number(st.size) !== o.size || st.mtimeNs.toString() !== o.mtimeNs;
}

/** Fsdb fields that describe the local object as `st` shows it. */
export function localFields(st: EntryStat): Pick<FsObject, "size" | "mtimeNs" | "mode" | "uid" | "gid" | "ino" | "ctimeNs"> {
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
  return a.mode === undefined && a.uid === undefined && a.gid === undefined && a.mtimeNs === undefined && a.xattrs === undefined;
}
