/**
 * The holder's registry of replicas and the server log's compaction: the log is kept from the
 * oldest stamp a live replica still needs, never past its last record; a replica not heard from
 * for longer than the retention no longer holds it back.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { REPLICA_RETENTION_MS } from "../../src/journal/replicas.js";
import { ROOT_FID, type JournalRecord } from "../../src/journal/records.js";
import { compactLog } from "../../src/sync/server.js";
import { tempDir } from "../helpers/tree.js";

/** Appends `n` setattr records of the root (what a holder's own scans of its root would log). */
function logMany(set: FileSet, n: number): void {
  set.transaction(() => {
    for (let i = 1; i <= n; i++) {
      const r = { op: "setattr", fid: ROOT_FID, base: "", attrs: { mtimeNs: String(i) }, seq: i, origin: set.replicaId, originSeq: i, time: i } as JournalRecord;
      set.log.append(r, (v) => `${set.replicaId}:${v}`);
    }
  });
}

describe("registered replicas and log compaction", () => {
  it("a holder with 100,000 logged records and two replicas keeps only what the older one needs", () => {
    const root = tempDir("imz-replicas-");
    const set = FileSet.init(root);
    try {
      logMany(set, 100_000);
      set.replicas.touch("aaaa", "web1:/srv/www", 0);
      set.replicas.touch("bbbb", "web2:/srv/www", 0);
      set.replicas.seen("aaaa", 40_000);
      set.replicas.seen("bbbb", 95_000);
      set.replicas.seen("aaaa", 30_000); // a stamp never goes back
      assert.equal(compactLog(set), 40_000);
      assert.equal(set.log.floor(), 40_000);
      assert.equal(set.log.head(), 100_000);
      assert.equal(set.db.prepare(`SELECT count(*) AS n FROM server_log`).pluck().get(), 60_000);
      assert.equal(set.log.since(40_000, 1)[0]!.record.seq, 40_001);
      // both replicas are at the head: the last record stays, and carries the volume stamp
      set.replicas.seen("aaaa", 100_000);
      set.replicas.seen("bbbb", 100_000);
      compactLog(set);
      assert.equal(set.log.head(), 100_000);
      assert.equal(set.db.prepare(`SELECT count(*) AS n FROM server_log`).pluck().get(), 1);
      assert.deepEqual(set.replicas.list().map((r) => [r.replica, r.place, r.lastSeen]), [
        ["aaaa", "web1:/srv/www", 100_000],
        ["bbbb", "web2:/srv/www", 100_000],
      ]);
    } finally {
      set.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("a replica silent for longer than the retention no longer holds the log back; with no replica nothing is compacted", () => {
    const root = tempDir("imz-replicas-");
    const set = FileSet.init(root);
    try {
      logMany(set, 1000);
      assert.equal(compactLog(set), 0, "no replica registered: nothing known to be needed, nothing dropped");
      const now = Date.now();
      set.replicas.touch("old", "laptop:/home/u/site", 10, now - REPLICA_RETENTION_MS - 1);
      set.replicas.touch("new", "web:/srv", 900, now);
      assert.equal(set.replicas.needed(now), 900);
      compactLog(set);
      assert.equal(set.log.floor(), 900);
    } finally {
      set.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
