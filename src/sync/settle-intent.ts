/**
 * Conflict settlement that a kill cannot leave half done. Settlement moves a replica's version aside
 * (a rename on disk, then the Fsdb and CML changes in one transaction) and brings the holder's version
 * in later in the run. Two things are journaled in the replica's database before they are acted on:
 *
 * - the objects whose holder version is to be brought in are listed as unapplied (`unapplied.ts`)
 *   before the plan runs, so a later sync brings them in even when this one dies first;
 * - a move aside is recorded as an *intent* (`aside:<fid>` in `meta`) before the rename; the
 *   transaction that records its effects deletes it. An intent left behind means the rename may have
 *   happened without its effects: {@link recoverAsides}, at the start of the next sync (before its
 *   scan, which would take the move for the user's rename and conflict again, renaming the copy a
 *   second time), moves the file back where the Fsdb has it. The conflict is then met and settled
 *   again, from the start, with nothing lost (its stored version stays in the store).
 *
 * {@link crashPoint} is the test hook: with `IMZ_CRASH_AT_STEP=N` the process kills itself at the
 * N-th step of settlement, as a `kill -9` landing there would.
 */
import type { FileSet } from "../journal/fileset.js";
import { existsAt, renameAt } from "./beneath.js";
import { Holding } from "./holding.js";

const PREFIX = "aside:";

/** What a move aside is about to do: rename `from` to `to` in directory `parent`. */
interface AsideIntent {
  parent: string;
  from: string;
  to: string;
}

/** Records, in its own transaction, that `fid` is about to be renamed from `from` to `to` in `parent`. */
export function noteAside(set: FileSet, fid: string, intent: AsideIntent): void {
  set.transaction(() => set.setMeta(PREFIX + fid, JSON.stringify(intent)));
}

/** Forgets the intent of `fid` (inside the transaction that records the move's effects). */
export function clearAside(set: FileSet, fid: string): void {
  set.db.prepare<[string]>(`DELETE FROM meta WHERE key = ?`).run(PREFIX + fid);
}

/**
 * Undoes every move aside a killed run left without its effects: the file goes back to its name
 * (when that is free), and the intent is forgotten. Returns how many were found.
 */
export function recoverAsides(set: FileSet): number {
  const rows = set.db.prepare<[string, string], { key: string; value: string }>(`SELECT key, value FROM meta WHERE key >= ? AND key < ?`).all(PREFIX, PREFIX.slice(0, -1) + ";");
  if (rows.length === 0) return 0;
  const holding = new Holding(set);
  for (const { key, value } of rows) {
    const { parent, from, to } = JSON.parse(value) as AsideIntent;
    try {
      if (set.fsdb.get(parent)?.type === "d") {
        holding.atChild(parent, to, (moved) =>
          holding.atChild(parent, from, (back) => {
            if (existsAt(moved) && !existsAt(back)) renameAt(moved, back, true);
          }),
        );
      }
    } catch {
      // the directory is gone or unsafe now: the scan finds what is there
    }
    set.transaction(() => clearAside(set, key.slice(PREFIX.length)));
  }
  return rows.length;
}

let steps = 0;
const stopAt = Number(process.env["IMZ_CRASH_AT_STEP"] ?? 0);

/** Test hook: counts a settlement step; SIGKILLs this process at step `IMZ_CRASH_AT_STEP` (unset: never). */
export function crashPoint(): void {
  if (stopAt > 0 && ++steps === stopAt) process.kill(process.pid, "SIGKILL");
}
