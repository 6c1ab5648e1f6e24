/**
 * A creation or move refused because the holder deleted the directory it goes into (the
 * `create/delete-parent` conflict), where this replica has removed that directory too — after
 * moving the object on, in records still pending behind the refused one: a file made in a
 * directory, moved out of it and the directory removed, while the holder removed the directory as
 * well (a replica journaling offline; the optimiser never folds a creation with a later move, since
 * the move's destination may not exist yet where the creation stands). The conflict's settlement
 * revives the directory, but there is none here to revive: both sides removed it. Before, nothing
 * was done, the same conflict came back on every sync and the object never reached the holder.
 */
import type { FileSet } from "../journal/fileset.js";
import { unnumbered, type JournalRecord, type NewRecord, type RecordOf } from "../journal/records.js";

/** A record that places an object (a rename moves one). */
type Placing = RecordOf<"create" | "mkdir" | "symlink" | "mknod" | "link" | "rename">;

function placing(r: JournalRecord): r is Placing {
  return r.op === "create" || r.op === "mkdir" || r.op === "symlink" || r.op === "mknod" || r.op === "link" || r.op === "rename";
}

/**
 * Ships refused record `r` to where its object is here now: the records to put in front of the
 * CML, and the pending records they stand for (to drop in the same transaction). The object's
 * later moves fold into `r` — a placement now at the object's place here, or a rename from the
 * place `r` names to it (what `r` replaced was in the removed directory, gone on both sides) — and
 * each object one of those moves replaced is removed first. A directory made here on the way to
 * that place was shipped in the round that refused `r` (a refusal of its own is settled on its
 * own, and the object's next refusal, if any, revives it). The object is in the Fsdb: records
 * about objects gone here are dropped before any settlement.
 */
export function placeWhereNow(set: FileSet, r: JournalRecord): { front: NewRecord[]; superseded: number[] } {
  const o = set.fsdb.must(r.fid);
  const [lead, ...moves] = set.cml.about(r.fid).filter((p): p is Placing => p.seq >= r.seq && placing(p));
  if (!lead || o.parent === null) return { front: [], superseded: [] };
  const front: NewRecord[] = [];
  for (const m of moves) {
    if (m.op === "rename" && m.replaced !== undefined) {
      front.push({ op: o.type === "d" ? "rmdir" : "unlink", fid: m.replaced, time: m.time, parent: m.newParent, name: m.newName, base: m.replacedBase ?? "" });
    }
  }
  if (lead.op === "rename") {
    const { replaced: _gone, replacedBase: _goneBase, ...move } = lead;
    front.push(unnumbered({ ...move, newParent: o.parent, newName: o.name }));
  } else {
    front.push(unnumbered({ ...lead, parent: o.parent, name: o.name }));
  }
  return { front, superseded: [lead.seq, ...moves.map((m) => m.seq)] };
}
