/**
 * The holder's registry of the replicas it serves (the `replicas` table): each replica's id, where
 * it is (`host:/path`), its last-seen volume stamp and its first and last contact. It decides how
 * far the server log may be compacted: below the oldest stamp a live replica still needs.
 */
import type { Db } from "./db.js";

/** One registered replica. */
export interface RegisteredReplica {
  replica: string;
  /** Where it syncs from (`host:/path`), as it said. */
  place: string;
  /** The last volume stamp it is known to have applied. */
  lastSeen: number;
  /** First and last contact, ms since the epoch. */
  firstSync: number;
  lastSync: number;
}

/**
 * A replica not heard from for this long no longer holds the log back (a retired host); if it
 * comes back, it revalidates against the holder's objects.
 */
export const REPLICA_RETENTION_MS = 30 * 24 * 3600_000;

/** The `replicas` table. */
export class Replicas {
  private readonly sTouch;
  private readonly sSeen;
  private readonly sAll;

  constructor(db: Db) {
    this.sTouch = db.prepare<[string, string, number, number, number, number]>(
      `INSERT INTO replicas (replica, place, last_seen, first_sync, last_sync) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(replica) DO UPDATE SET place = CASE WHEN excluded.place = '' THEN place ELSE excluded.place END,
         last_seen = max(last_seen, excluded.last_seen), last_sync = ?`,
    );
    this.sSeen = db.prepare<[number, number, string]>(`UPDATE replicas SET last_seen = max(last_seen, ?), last_sync = ? WHERE replica = ?`);
    this.sAll = db.prepare<[], { replica: string; place: string; last_seen: number; first_sync: number; last_sync: number }>(
      `SELECT replica, place, last_seen, first_sync, last_sync FROM replicas ORDER BY first_sync, replica`,
    );
  }

  /** Registers a contact from `replica` (at `place`, having applied up to `lastSeen`). */
  touch(replica: string, place: string, lastSeen: number, now = Date.now()): void {
    this.sTouch.run(replica, place, lastSeen, now, now, now);
  }

  /** Notes that `replica` has applied the log up to `volume`. */
  seen(replica: string, volume: number, now = Date.now()): void {
    this.sSeen.run(volume, now, replica);
  }

  /** Every registered replica, oldest first. */
  list(): RegisteredReplica[] {
    return this.sAll.all().map((r) => ({ replica: r.replica, place: r.place, lastSeen: r.last_seen, firstSync: r.first_sync, lastSync: r.last_sync }));
  }

  /**
   * The highest volume stamp below which no live replica needs the log (the oldest live replica's
   * last-seen stamp), or undefined when none is registered.
   */
  needed(now = Date.now()): number | undefined {
    const live = this.list().filter((r) => now - r.lastSync <= REPLICA_RETENTION_MS);
    return live.length === 0 ? undefined : Math.min(...live.map((r) => r.lastSeen));
  }
}
