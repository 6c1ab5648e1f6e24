/**
 * Objects whose holder version this replica failed to take in (a per-path problem while applying an
 * update or restoring a conflict's winner: an immutable file, a full disk, a file changed meanwhile).
 * The holder's log has moved past them, so update notification will not offer those records again;
 * instead each later sync brings every object listed here to the holder's current state
 * (`restoreFromHolder`) until that succeeds. A rerun once the cause is fixed converges, as an rsync
 * user expects, rather than leaving the two trees different until the holder changes the object again.
 */
import type { FileSet } from "../journal/fileset.js";

/** Lists `fid` as not yet brought to the holder's version (inside the caller's transaction or group). */
export function noteUnapplied(set: FileSet, fid: string): void {
  set.db.prepare<[string]>(`INSERT OR IGNORE INTO unapplied (fid) VALUES (?)`).run(fid);
}

/** Removes `fid` from the list: it now has the holder's version, or the holder decided otherwise. */
export function settleUnapplied(set: FileSet, fid: string): void {
  set.db.prepare<[string]>(`DELETE FROM unapplied WHERE fid = ?`).run(fid);
}

/** Every listed object. */
export function unapplied(set: FileSet): string[] {
  return set.db.prepare<[], { fid: string }>(`SELECT fid FROM unapplied ORDER BY fid`).all().map((r) => r.fid);
}

/** Forgets the list (a replica re-joining a new holder forgets every fid). */
export function forgetUnapplied(set: FileSet): void {
  set.db.prepare(`DELETE FROM unapplied`).run();
}
