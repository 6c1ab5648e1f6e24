/**
 * Journaling a local change: the Fsdb mutation and the record that describes it commit in one
 * transaction. On a replica the record goes to the CML for reintegration; on the holder it is
 * accepted at once, stamped with a new version, and appended to the server log.
 */
import type { FileSet } from "./fileset.js";
import { parseRecord, type JournalRecord, type NewRecord } from "./records.js";

/** Records local changes of one file set (used by the scanner and the filters). */
export class Journal {
  constructor(private readonly set: FileSet) {}

  /**
   * Applies `mutate` to the Fsdb and journals `rec`, atomically. Returns the stored record. On the
   * holder the changed object's version becomes the new stamp `<holder>:<volume>`.
   */
  record(rec: NewRecord, mutate: () => void): JournalRecord {
    const set = this.set;
    // Never journal a record that could not be read back: check it against the schema first.
    parseRecord({ ...rec, seq: 0, origin: set.replicaId, originSeq: 0 });
    return set.transaction(() => {
      mutate();
      if (set.role === "replica") return set.cml.append(rec);
      const volume = set.log.head() + 1;
      const full = { ...rec, seq: volume, origin: set.replicaId, originSeq: volume } as JournalRecord;
      const logged = set.log.append(full, (v) => `${set.replicaId}:${v}`);
      if (rec.op !== "unlink" && rec.op !== "rmdir") set.fsdb.setVersion(rec.fid, logged.version);
      return logged.record;
    });
  }
}
