/**
 * Journaling a local change: the Fsdb mutation and the record that describes it commit in one
 * transaction. On a replica the record goes to the CML for reintegration; on the holder it is
 * accepted at once, stamped with a new version, and appended to the server log.
 *
 * The births of new objects may be deferred ({@link Journal.defer}) and written together: one
 * transaction (a savepoint inside a group) for many records instead of one each, and the
 * directories they join forgetting their remembered digest once each, not once per row. A first
 * scan journals each new directory's entries so (a savepoint per record was about a third of its
 * journaling, measured alone; the forgetting a few percent more).
 */
import type { FileSet } from "./fileset.js";
import type { FsObject } from "./fsdb.js";
import { parseRecord, type JournalRecord, type NewRecord } from "./records.js";

/** A deferred birth (see {@link Journal.defer}). */
interface Birth {
  rec: NewRecord;
  row: FsObject;
  failed: (err: unknown) => void;
}

/** Records local changes of one file set (used by the scanner and the filters). */
export class Journal {
  private births: Birth[] = [];

  constructor(private readonly set: FileSet) {}

  /**
   * Applies `mutate` to the Fsdb and journals `rec`, atomically. Returns the stored record. On the
   * holder the changed object's version becomes the new stamp `<holder>:<volume>`. Deferred
   * births are written first ({@link Journal.flush}): records keep the order they were made in.
   */
  record(rec: NewRecord, mutate: () => void): JournalRecord {
    this.flush();
    this.check(rec);
    return this.set.transaction(() => {
      mutate();
      return this.logged(rec);
    });
  }

  /**
   * Journals the birth of a new object — `rec` a create, mkdir, symlink or mknod of `row`, whose
   * fid is new (allocated, in no row) — at the next {@link Journal.flush} or {@link Journal.record},
   * together with the births deferred meanwhile. Until then the Fsdb does not have the row: the
   * caller flushes before reading what it describes. `rec` is checked now (throws
   * `RECORD_INVALID`); when writing it fails, `failed` is told, and nothing of it is journaled.
   */
  defer(rec: NewRecord, row: FsObject, failed: (err: unknown) => void): void {
    this.check(rec);
    this.births.push({ rec, row, failed });
  }

  /**
   * Writes the deferred births in one transaction: each record with its row, in the order they
   * were deferred. If that fails, none of them is written by it, and each is journaled alone as
   * {@link Journal.record} would (the same rows and records; one that fails again is `failed`).
   */
  flush(): void {
    const births = this.births;
    if (births.length === 0) return;
    this.births = [];
    const { set } = this;
    try {
      set.transaction(() => {
        set.fsdb.putNew(births.map((b) => b.row));
        for (const b of births) this.logged(b.rec);
      }, births.length);
    } catch {
      for (const b of births) {
        try {
          set.transaction(() => {
            set.fsdb.put(b.row);
            this.logged(b.rec);
          });
        } catch (err) {
          b.failed(err);
        }
      }
    }
  }

  /** Never journal a record that could not be read back: throws `RECORD_INVALID` unless `rec` passes the schema. */
  private check(rec: NewRecord): void {
    parseRecord({ ...rec, seq: 0, origin: this.set.replicaId, originSeq: 0 });
  }

  /** Journals `rec` (inside the caller's transaction, after its Fsdb change): the CML, or the holder's log. */
  private logged(rec: NewRecord): JournalRecord {
    const set = this.set;
    if (set.role === "replica") return set.cml.append(rec);
    const volume = set.log.head() + 1;
    const full = { ...rec, seq: volume, origin: set.replicaId, originSeq: volume } as JournalRecord;
    const logged = set.log.append(full, (v) => `${set.replicaId}:${v}`);
    if (rec.op !== "unlink" && rec.op !== "rmdir") set.fsdb.setVersion(rec.fid, logged.version);
    return logged.record;
  }
}
