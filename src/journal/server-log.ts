/**
 * The server log: records the holder accepted, numbered by volume stamp. Update notification
 * forwards it; `(origin, originSeq)` is unique so a reintegration retried after a lost reply is
 * recognised instead of being applied twice.
 */
import { brief, trace } from "../trace.js";
import type { Db } from "./db.js";
import { parseRecord, type JournalRecord, type LoggedRecord } from "./records.js";

/** The holder's numbered list of accepted records. */
export class ServerLog {
  private readonly sInsert;
  private readonly sSince;
  private readonly sHead;
  private readonly sByOrigin;
  private readonly sReplace;
  private readonly sFloor;
  private readonly sSetFloor;
  private readonly sCompact;
  private readonly sTouched;
  private readonly sStamped;

  constructor(db: Db) {
    this.sInsert = db.prepare<[number, string, number, string, string, string]>(
      `INSERT INTO server_log (volume, origin, origin_seq, fid, version, body) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    this.sSince = db.prepare<[number, number], { body: string; version: string }>(
      `SELECT body, version FROM server_log WHERE volume > ? ORDER BY volume LIMIT ?`,
    );
    this.sReplace = db.prepare<[string, number]>(`UPDATE server_log SET body = ? WHERE volume = ?`);
    // the log's last number or its compaction floor, in one statement (was two per appended record)
    this.sHead = db
      .prepare<[], number>(
        `SELECT max(coalesce((SELECT max(volume) FROM server_log), 0), coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'log_floor'), 0))`,
      )
      .pluck();
    this.sFloor = db.prepare<[], string>(`SELECT value FROM meta WHERE key = 'log_floor'`).pluck();
    this.sSetFloor = db.prepare<[string]>(`INSERT OR REPLACE INTO meta (key, value) VALUES ('log_floor', ?)`);
    this.sCompact = db.prepare<[number]>(`DELETE FROM server_log WHERE volume <= ?`);
    this.sTouched = db.prepare<[number, number], { origin: string; fid: string }>(
      `SELECT origin, fid FROM server_log WHERE volume > ? AND volume <= ? ORDER BY volume`,
    );
    this.sStamped = db.prepare<[number], { fid: string; base: string }>(
      `SELECT fid, coalesce(json_extract(body, '$.base'), '') AS base FROM server_log WHERE volume = ?`,
    );
    this.sByOrigin = db.prepare<[string, number], { body: string; version: string }>(
      `SELECT body, version FROM server_log WHERE origin = ? AND origin_seq >= ? ORDER BY origin_seq`,
    );
  }

  /** The current volume stamp: the number of the last accepted record (0 when empty). */
  head(): number {
    return this.sHead.get()!;
  }

  /** The log is compacted up to here: records numbered at or below it are gone (0: none). */
  floor(): number {
    return Number(this.sFloor.get() ?? 0);
  }

  /**
   * Drops the records numbered at or below `upTo` (never the last one, which carries the volume
   * stamp): no replica that still needs them is registered. Returns how many went.
   */
  compact(upTo: number): number {
    const to = Math.min(upTo, this.head() - 1);
    if (to <= this.floor()) return 0;
    const n = this.sCompact.run(to).changes;
    this.sSetFloor.run(String(to));
    return n;
  }

  /**
   * Appends an accepted record, numbering it `head()+1`; `version` is the stamp it gave its object
   * (`<holder replica>:<volume>` for changes, the object's unchanged stamp otherwise).
   */
  append(record: JournalRecord, versionFor: (volume: number) => string): LoggedRecord {
    const volume = this.head() + 1;
    const version = versionFor(volume);
    const stored = { ...record, seq: volume } as JournalRecord;
    this.sInsert.run(volume, record.origin, record.originSeq, record.fid, version, JSON.stringify(stored));
    trace("log.append", () => ({ ...brief(stored), version }));
    return { record: stored, version };
  }

  /**
   * Rewrites the body of the logged record numbered `record.seq` (same object, same stamp). Only
   * for a record no one can have read yet: the filter folding its own uncommitted records.
   */
  replace(record: JournalRecord): void {
    this.sReplace.run(JSON.stringify(record), record.seq);
  }

  /** Up to `limit` records after volume stamp `since`, in order. */
  since(since: number, limit: number): LoggedRecord[] {
    return this.sSince.all(since, limit).map((r) => ({ record: parseRecord(JSON.parse(r.body)), version: r.version }));
  }

  /** Who changed which object in the records after `since` up to `upTo` (no bodies read). */
  touched(since: number, upTo: number): Array<{ origin: string; fid: string }> {
    return this.sTouched.all(since, upTo);
  }

  /**
   * The object the record numbered `volume` stamped and the version it replaced there (its `base`,
   * which the holder sets as it logs a record; "" for a placement), or undefined when the log no
   * longer has that record.
   */
  stamped(volume: number): { fid: string; base: string } | undefined {
    return this.sStamped.get(volume);
  }

  /** Records from `origin` with origin sequence ≥ `fromSeq`: what a retried reintegration already did. */
  appliedFrom(origin: string, fromSeq: number): LoggedRecord[] {
    return this.sByOrigin.all(origin, fromSeq).map((r) => ({ record: parseRecord(JSON.parse(r.body)), version: r.version }));
  }
}
