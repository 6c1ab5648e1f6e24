/**
 * The CML (client modification log): a replica's pending update records, in order. Appending runs
 * inside the caller's transaction together with the Fsdb change it describes, so a process killed at
 * any moment leaves either both or neither.
 */
import type { Db } from "./db.js";
import { mapFids, parseRecord, type JournalRecord, type NewRecord } from "./records.js";

/** A replica's list of pending update records. */
export class Cml {
  private readonly sInsert;
  private readonly sSetBody;
  private readonly sAll;
  private readonly sFirst;
  private readonly sDrop;
  private readonly sCount;
  private readonly sRebase;
  private readonly sHasFid;
  private readonly sBetween;
  private readonly sSetFid;
  private readonly sAbout;

  constructor(db: Db, private readonly origin: string) {
    this.sInsert = db.prepare<[string, string]>(`INSERT INTO cml (fid, body) VALUES (?, ?)`);
    this.sSetBody = db.prepare<[string, number]>(`UPDATE cml SET body = ? WHERE seq = ?`);
    this.sAll = db.prepare<[], { body: string }>(`SELECT body FROM cml ORDER BY seq`);
    this.sFirst = db.prepare<[], { body: string }>(`SELECT body FROM cml ORDER BY seq LIMIT 1`);
    this.sDrop = db.prepare<[number]>(`DELETE FROM cml WHERE seq = ?`);
    this.sCount = db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM cml`);
    this.sRebase = db.prepare<[string, string, string]>(
      `UPDATE cml SET body = json_set(body, '$.base', ?) WHERE fid = ? AND json_extract(body, '$.base') = ?`,
    );
    this.sBetween = db.prepare<[number, number], { body: string }>(`SELECT body FROM cml WHERE seq BETWEEN ? AND ? ORDER BY seq`);
    this.sSetFid = db.prepare<[string, number]>(`UPDATE cml SET fid = ? WHERE seq = ?`);
    this.sHasFid = db.prepare<[string], { one: number }>(`SELECT 1 AS one FROM cml WHERE fid = ? LIMIT 1`);
    this.sAbout = db.prepare<[string], { body: string }>(`SELECT body FROM cml WHERE fid = ? ORDER BY seq`);
  }

  /** Appends a record, giving it the next sequence number (never reused); returns the stored record. */
  append(rec: NewRecord): JournalRecord {
    const seq = Number(this.sInsert.run(rec.fid, "{}").lastInsertRowid);
    const stored = { ...rec, seq, origin: this.origin, originSeq: seq } as JournalRecord;
    this.sSetBody.run(JSON.stringify(stored), seq);
    return stored;
  }

  /** The oldest pending record, if any (validated as it is read). */
  first(): JournalRecord | undefined {
    const row = this.sFirst.get();
    return row && parseRecord(JSON.parse(row.body));
  }

  /** Every pending record in journal order (validated as it is read). */
  all(): JournalRecord[] {
    return this.sAll.all().map((r) => parseRecord(JSON.parse(r.body)));
  }

  /** Pending records about object `fid` (their `fid` field), in order; one index look-up. */
  about(fid: string): JournalRecord[] {
    return this.sAbout.all(fid).map((r) => parseRecord(JSON.parse(r.body)));
  }

  /** Pending records with sequence numbers in `[lo, hi]`, in order. */
  between(lo: number, hi: number): JournalRecord[] {
    return this.sBetween.all(lo, hi).map((r) => parseRecord(JSON.parse(r.body)));
  }

  /** Replaces a pending record's body (same seq): the optimiser folded later records into it. */
  replace(rec: JournalRecord): void {
    this.sSetBody.run(JSON.stringify(rec), rec.seq);
  }

  /**
   * Rewrites the fids of every pending record through `map` (the holder adopted identical objects
   * under its own fids). One pass over what is left in the CML, however many objects were adopted.
   */
  remapAll(map: (fid: string) => string): void {
    for (const rec of this.all()) {
      const out = mapFids(rec, map);
      if (JSON.stringify(out) === JSON.stringify(rec)) continue;
      this.sSetBody.run(JSON.stringify(out), rec.seq);
      this.sSetFid.run(out.fid, rec.seq);
    }
  }

  /** Drops records that the server has accepted (or that cancelled out). */
  drop(seqs: Iterable<number>): void {
    for (const s of seqs) this.sDrop.run(s);
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
