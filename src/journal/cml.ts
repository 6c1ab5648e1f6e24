/**
 * The CML (client modification log): a replica's pending update records, in order. Appending runs
 * inside the caller's transaction together with the Fsdb change it describes, so a process killed at
 * any moment leaves either both or neither. A record's seq (and its `originSeq`, the same number) is
 * its row's key, not stored in its body (schema 9): an append is one plain `INSERT`.
 */
import type { Db } from "./db.js";
import { brief, trace } from "../trace.js";
import { mapFids, parseRecord, type JournalRecord, type NewRecord } from "./records.js";

/** Records {@link Cml.remapAll} reads at once. */
const REMAP_WINDOW = 5000;

/** A CML row as read: its seq and its body (the record without its seq). */
type Row = [seq: number, body: string];

/** The stored record of a row (validated as it is read): its body, numbered by the row. */
function recordOf([seq, body]: Row): JournalRecord {
  return parseRecord({ ...(JSON.parse(body) as object), seq, originSeq: seq });
}

/** The body a record is stored as: everything but its seq and `originSeq`, which are its row's. */
function bodyOf(rec: JournalRecord): string {
  const { seq: _seq, originSeq: _originSeq, ...body } = rec;
  return JSON.stringify(body);
}

/** A replica's list of pending update records. */
export class Cml {
  private readonly sInsert;
  private readonly sReplace;
  private readonly sAll;
  private readonly sFirst;
  private readonly sDrop;
  private readonly sCount;
  private readonly sRebase;
  private readonly sHasFid;
  private readonly sBetween;
  private readonly sAbout;
  private readonly sWindow;
  private readonly sLater;

  constructor(db: Db, private readonly origin: string) {
    // The seq is AUTOINCREMENT's (never reused) and the body does not repeat it: one plain INSERT.
    // (Until schema 9 the body carried it, written by a `json_set` over the body in the INSERT: about
    // 40% of a first copy's journaling time in the scan.) The seq is the statement's last rowid, not
    // a RETURNING clause, which SQLite gathers in a table of its own: about twice the insert's cost.
    this.sInsert = db.prepare<[string, string]>(`INSERT INTO cml (fid, body) VALUES (?, ?)`);
    this.sReplace = db.prepare<[string, string, number]>(`UPDATE cml SET body = ?, fid = ? WHERE seq = ?`);
    this.sAll = db.prepare<[], Row>(`SELECT seq, body FROM cml ORDER BY seq`).raw();
    this.sFirst = db.prepare<[], Row>(`SELECT seq, body FROM cml ORDER BY seq LIMIT 1`).raw();
    this.sDrop = db.prepare<[number]>(`DELETE FROM cml WHERE seq = ?`);
    this.sCount = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM cml`);
    this.sRebase = db.prepare<[string, string, string]>(
      `UPDATE cml SET body = json_set(body, '$.base', ?) WHERE fid = ? AND json_extract(body, '$.base') = ?`,
    );
    this.sBetween = db.prepare<[number, number], Row>(`SELECT seq, body FROM cml WHERE seq BETWEEN ? AND ? ORDER BY seq`).raw();
    this.sHasFid = db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM cml WHERE fid = ? LIMIT 1`);
    this.sAbout = db.prepare<[string], Row>(`SELECT seq, body FROM cml WHERE fid = ? ORDER BY seq`).raw();
    this.sWindow = db.prepare<[number, number], Row>(`SELECT seq, body FROM cml WHERE seq > ? ORDER BY seq LIMIT ?`).raw();
    this.sLater = db.prepare<[string, number], number>(`SELECT 1 FROM cml WHERE fid = ? AND seq > ? LIMIT 1`).pluck();
  }

  /** Appends a record, giving it the next sequence number (never reused); returns the stored record. */
  append(rec: NewRecord): JournalRecord {
    const seq = Number(this.sInsert.run(rec.fid, JSON.stringify({ ...rec, origin: this.origin })).lastInsertRowid);
    trace("cml.append", () => ({ replica: this.origin, ...brief(rec), seq }));
    return { ...rec, seq, origin: this.origin, originSeq: seq } as JournalRecord;
  }

  /** The oldest pending record, if any (validated as it is read). */
  first(): JournalRecord | undefined {
    const row = this.sFirst.get();
    return row && recordOf(row);
  }

  /** Every pending record in journal order (validated as it is read). */
  all(): JournalRecord[] {
    return this.sAll.all().map(recordOf);
  }

  /** Pending records about object `fid` (their `fid` field), in order; one index look-up. */
  about(fid: string): JournalRecord[] {
    return this.sAbout.all(fid).map(recordOf);
  }

  /**
   * At most `limit` pending records with sequence numbers above `after`, in order: one window of the
   * CML, so that a reader's memory follows the window and not the CML.
   */
  window(after: number, limit: number): JournalRecord[] {
    return this.sWindow.all(after, limit).map(recordOf);
  }

  /** Every pending record, read window by window (records dropped or added meanwhile are seen or not by their seq). */
  *windows(limit: number): Generator<JournalRecord[]> {
    for (let after = 0; ; ) {
      const part = this.window(after, limit);
      if (part.length === 0) return;
      after = part[part.length - 1]!.seq;
      yield part;
    }
  }

  /** True when a pending record after `seq` is about object `fid` (one index look-up). */
  hasLater(fid: string, seq: number): boolean {
    return this.sLater.get(fid, seq) !== undefined;
  }

  /** Pending records with sequence numbers in `[lo, hi]`, in order. */
  between(lo: number, hi: number): JournalRecord[] {
    return this.sBetween.all(lo, hi).map(recordOf);
  }

  /**
   * Replaces a pending record (same seq): the optimiser folded later records into it, or its fids
   * were rewritten to the holder's.
   */
  replace(rec: JournalRecord): void {
    this.sReplace.run(bodyOf(rec), rec.fid, rec.seq);
  }

  /**
   * Rewrites the fids of every pending record through `map` (the holder adopted identical objects
   * under its own fids). One pass over what is left in the CML, however many objects were adopted,
   * a window at a time.
   */
  remapAll(map: (fid: string) => string): void {
    for (const part of this.windows(REMAP_WINDOW)) {
      for (const rec of part) {
        const out = mapFids(rec, map);
        if (JSON.stringify(out) === JSON.stringify(rec)) continue;
        trace("cml.remap", () => ({ replica: this.origin, from: brief(rec), to: brief(out) }));
        this.replace(out);
      }
    }
  }

  /** Drops records that the server has accepted (or that cancelled out). */
  drop(seqs: Iterable<number>): void {
    for (const s of seqs) {
      trace("cml.drop", () => ({ replica: this.origin, records: this.between(s, s).map(brief) }), true);
      this.sDrop.run(s);
    }
  }

  /** Number of pending records. */
  count(): number {
    return this.sCount.get()!.n;
  }

  /** True when some pending record is about object `fid`. */
  hasPending(fid: string): boolean {
    return this.sHasFid.get(fid) !== undefined;
  }

  /**
   * After the server accepted one of this replica's changes to `fid`, the remaining records about it
   * were made on top of that change: move their base from `from` to the server's new stamp `to`.
   */
  rebase(fid: string, from: string, to: string): void {
    this.sRebase.run(to, fid, from);
  }
}
