/**
 * Hard links in the filter: content and attributes belong to the inode, so when the filter
 * journals a change made through one name, every other known name of the inode follows with its
 * own records — what a scan would journal for each name. A name removed later in the same CML then
 * takes its records with it, and the optimiser keeps one content record per inode
 * (`lastContentPerInode`). A written handle whose name is gone (libfuse's `.fuse_hidden…`) is found
 * by its inode.
 */
import fs from "node:fs";
import { inoKey, type FileSet } from "../journal/fileset.js";
import { isPlaceholder, type FsObject } from "../journal/fsdb.js";
import { localFields } from "./object-stat.js";
import { recordAttrs, type ScanContext } from "./scan-record.js";
import type { Xattrs } from "../journal/xattrs.js";

/** The other known names of `obj`'s inode (hard links), when it has any. */
export function otherNames(set: FileSet, obj: FsObject, st: fs.BigIntStats): FsObject[] {
  if (obj.type !== "f" || st.nlink < 2n || obj.ino === null) return [];
  return set.fsdb.byIno(obj.ino).filter((o) => o.fid !== obj.fid && o.type === "f");
}

/** A known name of the file open as `fh`, with the handle's stat. */
export function byHandle(set: FileSet, fh: number): { obj: FsObject; st: fs.BigIntStats } | undefined {
  const st = fs.fstatSync(fh, { bigint: true });
  const obj = set.fsdb.byIno(inoKey(st)).find((o) => o.type === "f");
  return obj && { obj, st };
}

/** After `now` (just journaled, as `st` shows it) changed: its other names' content and attributes. */
export function followContent(ctx: ScanContext, now: FsObject, st: fs.BigIntStats): void {
  const set = ctx.set;
  for (const other of otherNames(set, now, st)) {
    if (other.hash !== now.hash && !isPlaceholder(now)) {
      const content = { size: now.size, mtimeNs: now.mtimeNs, hash: now.hash };
      ctx.journal.record({ op: "close", fid: other.fid, time: Date.now(), base: other.version, content }, () =>
        set.fsdb.put({ ...other, ...localFields(st), hash: now.hash, flags: now.flags }),
      );
      ctx.report.records++;
    }
    recordAttrs(ctx, set.fsdb.must(other.fid), st);
  }
}

/** After `obj`'s attributes were journaled: its other names' (`xattrs`: the inode's, when read). */
export function followAttrs(ctx: ScanContext, obj: FsObject, st: fs.BigIntStats, xattrs?: Xattrs): void {
  for (const other of otherNames(ctx.set, obj, st)) recordAttrs(ctx, other, st, xattrs);
}
