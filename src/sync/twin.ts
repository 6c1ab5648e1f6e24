/**
 * Two objects of this replica's Fsdb claimed by one fid of the holder's: the holder adopted (at
 * reintegration) or created (in update notification) an object identical to one of ours at its
 * place, while our Fsdb still has that fid elsewhere — a copy made here of a file the holder has
 * since moved to the copy's place, or a row a crash or a restore left stale.
 */
import fs from "node:fs";
import path from "node:path";
import { placement } from "../filter/object-stat.js";
import { inoKey, type FileSet } from "../journal/fileset.js";
import type { FsObject } from "../journal/fsdb.js";
import { Journal } from "../journal/journal.js";

/**
 * The `twin` (ours, elsewhere) gives up the holder's fid: still on disk where the Fsdb has it, it
 * becomes an object of its own, created on the holder by a record of its own (appended to the CML:
 * shipped by a later window of a reintegration, or the next exchange); gone, its row and records
 * are forgotten.
 */
export function rebirthTwin(set: FileSet, twin: FsObject): void {
  set.cml.drop(set.cml.about(twin.fid).map((r) => r.seq));
  let onDisk = false;
  try {
    onDisk = twin.parent !== null && inoKey(fs.lstatSync(path.join(set.root, set.fsdb.pathOf(twin.fid)), { bigint: true })) === twin.ino;
  } catch {
    // its place is gone
  }
  if (!onDisk && !set.fsdb.hasChildren(twin.fid)) {
    set.fsdb.delete(twin.fid);
    return;
  }
  const fresh = set.allocFid();
  set.fsdb.remap(twin.fid, fresh);
  set.fsdb.put({ ...set.fsdb.must(fresh), version: "" });
  new Journal(set).record(placement(set.fsdb.must(fresh)), () => undefined);
}
