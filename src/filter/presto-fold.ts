/**
 * Folding in the filter's open batch: a program's follow-up updates of an object it just created
 * (tar: create, write, chown, utimens, chmod, close) become one record, the one a scan would have
 * written, instead of five. Coda's CML optimisation, done before commit where it is cheapest.
 *
 * Invariants:
 * - Only records of the batch still open (uncommitted) are rewritten: nothing else — a sync in
 *   another process, a crash — has seen them. A commit, or a failed step, forgets them; a record
 *   made outside the open batch (it commits at once) is never tracked.
 * - A record folds only into the last record about its object, and only when no record since has
 *   mentioned that object in any other role (parent, link target, replaced object): replaying the
 *   folded log gives the tree the raw log gives, in any order a replayer applies it.
 * - A fold keeps the earlier record's place, sequence number and version stamp.
 */
import type { FileSet } from "../journal/fileset.js";
import { Journal } from "../journal/journal.js";
import { fidsOf, parseRecord, type Attrs, type JournalRecord, type NewRecord } from "../journal/records.js";

/** Records a later setattr can fold into. */
const ABSORBS_ATTRS = new Set<JournalRecord["op"]>(["create", "mkdir", "symlink", "mknod", "setattr"]);

/**
 * `next` folded into `prior` (the last record about the same object), or undefined when it cannot
 * fold: a setattr into a birth or a setattr (the later attributes win; a file whose content was
 * folded in takes the new mtime as its content's), a close into a create (the content and its mtime).
 */
export function foldRecord(prior: JournalRecord, next: NewRecord): JournalRecord | undefined {
  if (next.op === "setattr" && ABSORBS_ATTRS.has(prior.op) && "attrs" in prior) {
    const attrs = { ...prior.attrs, ...definedOnly(next.attrs) };
    if (prior.op === "create" && prior.content && next.attrs.mtimeNs !== undefined) {
      return { ...prior, attrs, content: { ...prior.content, mtimeNs: next.attrs.mtimeNs } };
    }
    return { ...prior, attrs } as JournalRecord;
  }
  if (next.op === "close" && prior.op === "create") {
    return { ...prior, attrs: { ...prior.attrs, mtimeNs: next.content.mtimeNs }, content: next.content };
  }
  return undefined;
}

/** A {@link Journal} that folds records into the open batch's earlier records (see the module doc). */
export class FoldingJournal extends Journal {
  /** The last record about each object in the open batch, while a later one may still fold into it. */
  private readonly pending = new Map<string, JournalRecord>();

  constructor(private readonly fileSet: FileSet) {
    super(fileSet);
  }

  /** Forgets the open batch's records: it committed (others may read them now) or a step failed. */
  forget(): void {
    this.pending.clear();
  }

  override record(rec: NewRecord, mutate: () => void): JournalRecord {
    // Outside the filter's open batch a record commits at once: it is never folded into, or tracked.
    if (!this.fileSet.db.inTransaction) {
      this.forget();
      return super.record(rec, mutate);
    }
    const prior = this.pending.get(rec.fid);
    const folded = prior && foldRecord(prior, rec);
    if (!folded) {
      const stored = super.record(rec, mutate);
      for (const f of fidsOf(stored)) this.pending.delete(f);
      if (ABSORBS_ATTRS.has(stored.op)) this.pending.set(stored.fid, stored);
      return stored;
    }
    parseRecord(folded);
    const set = this.fileSet;
    set.transaction(() => {
      mutate();
      if (set.role === "replica") set.cml.replace(folded);
      else set.log.replace(folded);
    });
    this.pending.set(folded.fid, folded);
    return folded;
  }
}

function definedOnly(a: Attrs): Attrs {
  return Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Attrs;
}
