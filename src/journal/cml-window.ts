/**
 * A CML optimised one window at a time, so that reintegration holds a window of records and not the
 * whole CML (issue 16: a first copy of 1,000,000 files journals 1,000,000 records).
 *
 * Optimising each window of a list on its own keeps the optimiser's contract for the whole list:
 * replaying the optimised windows one after the other gives the tree the raw list gives, because each
 * optimised window replays like its raw window on whatever tree the windows before it left. What a
 * window cannot see is the records after it, and so one promise of whole-CML optimisation is lost:
 * that every content record left states content the replica still has. A file created (or closed) in
 * this window and closed again, or removed, in a later one is not there as this window describes it,
 * so its content cannot be sent: such a record was refused on every run and stayed in the CML for
 * good. And a `link` in an earlier window joined names the optimiser must still treat as one inode.
{@link optimiseWindow} therefore drops the content of a record the caller says cannot be
 * shipped — a create places an empty file (the later record fills or removes it), a close goes (the
 * later record states the content, or removes the object) — which gives the same end tree.
 */
import { optimise, type Optimised } from "./optimise.js";
import type { Content, JournalRecord } from "./records.js";

/**
 * True when the content `content` stated for object `fid` can be sent at reintegration; false only
 * when the replica no longer has it because a later record of the CML changed or removed it.
 */
export type Shippable = (fid: string, content: Content) => boolean;

/**
 * Optimises one window of the CML (records in journal order) and drops content it cannot ship.
 * `linked` holds the fids `link` records of earlier windows named (see {@link optimise}); this
 * window's are added to it for the next.
 */
export function optimiseWindow(records: readonly JournalRecord[], shippable: Shippable, linked: Set<string>): Optimised {
  const out = optimise(records, linked);
  for (const r of records) if (r.op === "link") linked.add(r.fid).add(r.target);
  const kept: JournalRecord[] = [];
  const dropped = [...out.dropped];
  for (const r of out.records) {
    const content = r.op === "close" || r.op === "create" ? r.content : undefined;
    if (content === undefined || shippable(r.fid, content)) kept.push(r);
    else if (r.op === "create") {
      const { content: _c, ...bare } = r;
      kept.push(bare);
    } else dropped.push(r.seq);
  }
  return { records: kept, dropped: dropped.length === out.dropped.length ? dropped : dropped.sort((a, b) => a - b) };
}
