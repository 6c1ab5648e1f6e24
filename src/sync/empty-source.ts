/**
 * Never a wipe from an empty source: a sync whose SRC tree is empty while DEST has data is refused
 * (`EMPTY_SOURCE`) when it could destroy DEST's data — always for `--mirror`, and for a two-way sync
 * once SRC has synced before (an unmounted disk, an emptied tree). A first two-way run from an
 * empty SRC only unions (it copies DEST into SRC), so it goes ahead. Checked on the holder, which
 * knows both sides (the replica's facts arrive with `attach`, taken before its scan), before
 * anything is scanned, journaled or written.
 */
import fs from "node:fs";
import path from "node:path";
import { ImzError } from "../errors.js";
import { FileSet, META_DIR } from "../journal/fileset.js";
import type { EmptyGuard } from "./peer.js";

/** True when directory `root` has no entries besides `.intermezzo/` (a missing root counts as empty). */
export function treeIsEmpty(root: string): boolean {
  try {
    return fs.readdirSync(root).every((n) => n === META_DIR);
  } catch {
    return true;
  }
}

/** True when the file set at `root` has synced with a partner before (a replica joined, or a holder served). */
export function hasSynced(root: string): boolean {
  if (!FileSet.exists(root)) return false;
  const set = FileSet.open(root);
  try {
    return set.role === "holder" ? set.replicas.list().length > 0 || set.log.head() > 0 : set.meta("holder_replica") !== "";
  } finally {
    set.close();
  }
}

/**
 * The rule itself, pure: refuse when SRC is empty, DEST is not, and the run could delete DEST's
 * data from it.
 */
export function refusesEmptySource(f: { mirror: boolean; srcEmpty: boolean; destEmpty: boolean; srcSynced: boolean }): boolean {
  return f.srcEmpty && !f.destEmpty && (f.mirror || f.srcSynced);
}

/** Throws `EMPTY_SOURCE` when the holder at `root` and the replica's facts in `guard` say so. */
export function checkEmptySource(root: string, guard: EmptyGuard): void {
  const holderEmpty = treeIsEmpty(root);
  const srcIsHolder = guard.source === "holder";
  const facts = {
    mirror: guard.mirror,
    srcEmpty: srcIsHolder ? holderEmpty : guard.replicaEmpty,
    destEmpty: srcIsHolder ? guard.replicaEmpty : holderEmpty,
    srcSynced: srcIsHolder ? hasSynced(root) : guard.replicaSynced,
  };
  if (!refusesEmptySource(facts)) return;
  const src = srcIsHolder ? path.resolve(root) : "the replica's tree";
  throw new ImzError("EMPTY_SOURCE", `SRC (${src}) is empty while DEST has data; ${guard.mirror ? "mirroring" : "syncing"} it would delete DEST's files`, {
    hint: "check that SRC's disk is mounted and the right path was given; rerun with --force if SRC really is meant to be empty",
  });
}
