/**
 * An edit made on this host while Lento installs the holder's version of the same file. The applier
 * replaces a file only while it is still the version the Fsdb describes, but a check by stat and the
 * rename that installs are two steps: a program that writes in between (the churn test's writers,
 * on a loaded machine, did) would see its edit vanish with the replaced inode. So the check is made
 * on a descriptor of the inode about to be replaced, which stays open across the install; if that
 * inode changed after the check (its mtime or size moved), its content — the local edit — is
 * copied into the conflict store and logged, and the caller reports it. A program still writing to
 * the old inode after the install writes to an unlinked file, as with any rename over a file it has
 * open.
 */
import fs from "node:fs";
import { logConflict, newEntryId, storeVersion, versionInfo, type ConflictEntry } from "../conflict/store.js";
import { ImzError } from "../errors.js";
import { inoKey, type FileSet } from "../journal/fileset.js";
import type { FsObject } from "../journal/fsdb.js";
import type { Problem } from "../filter/object-stat.js";
import { fdPath } from "./beneath.js";
import type { Holding } from "./holding.js";

/**
 * Throws `IO` unless `st` (the object on disk) is still what the Fsdb recorded of `o`, at `where`:
 * an unscanned change is never replaced.
 */
export function assertUnchanged(o: FsObject, st: Pick<fs.BigIntStats, "dev" | "ino" | "mtimeNs" | "size">, where: string): void {
  if (inoKey(st) === o.ino && st.mtimeNs.toString() === o.mtimeNs && (o.type !== "f" || Number(st.size) === o.size)) return;
  throw new ImzError("IO", `${where} changed on this host since it was last scanned; left as it is`, { hint: "the next sync scans it and reconciles", path: where });
}

/** The replaced inode, open, as it was when checked. */
export class ReplacedWatch {
  private constructor(
    private readonly fd: number,
    private readonly seen: fs.BigIntStats,
  ) {}

  /**
   * Opens the file of `o` and checks it is still the version the Fsdb recorded; throws `IO` (and
   * keeps nothing open) otherwise: an unscanned change is never replaced.
   */
  static check(holding: Holding, o: FsObject, where: string): ReplacedWatch {
    const fd = holding.openRead(o.fid);
    const st = fs.fstatSync(fd, { bigint: true });
    try {
      assertUnchanged(o, st, where);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    return new ReplacedWatch(fd, st);
  }

  /**
   * After the install (`replaced`) or a failed one: closes the descriptor; when the install replaced
   * an inode changed since the check, stores its content as a conflict version of `o` and returns the
   * warning to report.
   */
  settle(set: FileSet, o: FsObject, where: string, replaced: boolean): Problem | undefined {
    try {
      if (!replaced) return undefined; // the local edit is still in place: the next scan journals it
      const now = fs.fstatSync(this.fd, { bigint: true });
      // not the ctime: the rename that replaced the inode moved it (its link count fell)
      if (now.mtimeNs === this.seen.mtimeNs && now.size === this.seen.size) return undefined;
      const time = new Date().toISOString();
      const raced = { ...o, size: Number(now.size), mtimeNs: now.mtimeNs.toString(), hash: "" };
      const stored = storeVersion(set, raced, () => fs.openSync(fdPath(this.fd), fs.constants.O_RDONLY), time);
      const entry: ConflictEntry = {
        id: newEntryId(), time, path: where, kind: "update/update", status: "auto",
        detail: "edited on this host while the holder's version was installed", winner: "server",
        replica: set.replicaId, holder: set.metaOr("holder_replica", ""), client: versionInfo(raced), server: null, kept: "client", ...(stored ? { stored } : {}),
      };
      logConflict(set, entry);
      return { path: where, code: "IO", message: `edited here while the holder's version was installed: that edit is kept as ${stored ?? "(not stored)"}` };
    } finally {
      fs.closeSync(this.fd);
    }
  }
}
