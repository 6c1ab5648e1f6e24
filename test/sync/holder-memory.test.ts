/**
 * The holder's memory during a sync follows its batches, not the tree (issue 16, bench/memory: the
 * holder of a first copy grew by about 0.4 KB per file). A connection's baselines — the version an
 * object had before the connection changed it, which the replica's later records may still carry —
 * are read back from the server log (`ConnectionStamps`), not kept in two maps keyed by fid: the
 * server keeps no map or set with an entry per object it placed, and the baselines still hold across
 * its requests, until another replica changes the object.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { ConnectionStamps } from "../../src/sync/connection-stamps.js";
import type { JournalRecord } from "../../src/journal/records.js";
import type { AttachRequest, ContentSource } from "../../src/sync/peer.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets, type SyncOptions } from "../../src/sync/sync.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-holder-memory-");
after(() => scratch.cleanup());

const SYNC: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: true, replicaIsSrc: true };

/** Syncs `replica` to an in-process holder at `holder` in windows of `window` records; returns the server, closed. */
async function syncIn(replica: string, holder: string, window: number): Promise<LentoServer> {
  const server = new LentoServer(holder, { owner: true });
  const r = await syncFileSets(replica, server, { ...SYNC, cmlWindow: window });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.conflicts, []);
  return server;
}

describe("the holder's memory follows the batch", () => {
  it("a first copy of many files in many batches leaves no map or set with an entry per object, and one run of stamps", async () => {
    const replica = scratch.dir();
    const holder = scratch.dir();
    const FILES = 120;
    for (let i = 0; i < FILES; i++) put(replica, `d${i % 4}/f${i}.txt`, `file ${i}\n`);
    const server = await syncIn(replica, holder, 10);
    assert.deepEqual(manifest(holder), manifest(replica));
    const fields = Object.entries(server as unknown as Record<string, unknown>);
    for (const [name, value] of fields) {
      if (value instanceof Map || value instanceof Set) assert.ok(value.size < 10, `${name} holds ${value.size} entries after ${FILES} files in batches of 10`);
    }
    const stamps = fields.map(([, v]) => v).find((v): v is ConnectionStamps => v instanceof ConnectionStamps);
    assert.ok(stamps, "the server keeps its stamps as runs");
    assert.equal(stamps.size, 1, "one run of volumes for the whole copy: nobody else wrote meanwhile");
  });

  it("a record based on the version before this connection's change is accepted in a later request, until another replica changes the object", async () => {
    const holder = scratch.dir();
    const mine = new LentoServer(holder, { owner: false });
    const other = new LentoServer(holder, { owner: false });
    const noContent: ContentSource = () => {
      throw new Error("no content is asked for");
    };
    const attach = (replica: string): AttachRequest => ({ replica, filesetId: null, expectHolder: false, scan: { scan: true, maxDeleteFraction: 1, force: true }, dryRun: false });
    let seq = 0;
    const record = (origin: string, r: Record<string, unknown>): JournalRecord => ({ ...r, origin, seq: ++seq, originSeq: seq, time: 0 }) as unknown as JournalRecord;
    try {
      await mine.attach(attach("aaaaaaaaaaaa"));
      const placed = await mine.reintegrate([record("aaaaaaaaaaaa", { op: "symlink", fid: "aaaaaaaaaaaa:1", parent: "root", name: "s", target: "t", attrs: {} })], noContent);
      assert.equal(placed.results[0]!.status, "applied");
      // the replica's next request still states the version it knew: none (the symlink was new)
      const touched = await mine.reintegrate([record("aaaaaaaaaaaa", { op: "setattr", fid: "aaaaaaaaaaaa:1", base: "", attrs: { mtimeNs: "1000000000" } })], noContent);
      assert.equal(touched.results[0]!.status, "applied", JSON.stringify(touched.results[0]));
      // another replica changes it: this connection's baseline no longer stands
      await other.attach(attach("bbbbbbbbbbbb"));
      const theirs = await other.reintegrate([record("bbbbbbbbbbbb", { op: "setattr", fid: "aaaaaaaaaaaa:1", base: touched.results[0]!.version, attrs: { mtimeNs: "2000000000" } })], noContent);
      assert.equal(theirs.results[0]!.status, "applied", JSON.stringify(theirs.results[0]));
      const stale = await mine.reintegrate([record("aaaaaaaaaaaa", { op: "setattr", fid: "aaaaaaaaaaaa:1", base: "", attrs: { mtimeNs: "3000000000" } })], noContent);
      assert.equal(stale.results[0]!.status, "conflict");
    } finally {
      await other.close();
      await mine.close();
    }
  });
});

describe("ConnectionStamps", () => {
  /** A holder file set with `n` records logged by "this connection", one per object; returns the set and the stamps. */
  function logged(n: number): { set: FileSet; stamps: ConnectionStamps; version: (fid: string) => string } {
    const set = FileSet.init(scratch.dir(), { role: "holder" });
    const stamps = new ConnectionStamps(set);
    const versions = new Map<string, string>();
    const log = (fid: string, base: string | undefined): void => {
      const rec = base === undefined ? { op: "mkdir", fid, parent: "root", name: fid, attrs: {} } : { op: "setattr", fid, base, attrs: {} };
      const l = set.log.append({ ...rec, seq: 0, origin: "r", originSeq: set.log.head() + 1, time: 0 } as never, (v) => `${set.replicaId}:${v}`);
      versions.set(fid, l.version);
      stamps.logged(l.record.seq);
    };
    for (let i = 0; i < n; i++) log(`f${i}`, undefined);
    return { set, stamps, version: (fid) => versions.get(fid)! };
  }

  it("keeps one run for consecutive volumes, however many objects", () => {
    const { set, stamps } = logged(5000);
    try {
      assert.equal(stamps.size, 1);
    } finally {
      set.close();
    }
  });

  it("gives a placed object's baseline as nothing, another's stamp as its own, and forgets a rolled-back batch", () => {
    const { set, stamps, version } = logged(3);
    try {
      assert.equal(stamps.baseline("f1", version("f1")), "", "placed by this connection");
      assert.equal(stamps.baseline("f1", "elsewhere:7"), "elsewhere:7", "another replica's version is its own baseline");
      assert.equal(stamps.baseline("f1", version("f2")), version("f2"), "a stamp of another object");
      // a second change of f1 by this connection: its baseline is still from before the first
      const l = set.log.append({ op: "setattr", fid: "f1", base: version("f1"), attrs: {}, seq: 0, origin: "r", originSeq: 99, time: 0 } as never, (v) => `${set.replicaId}:${v}`);
      stamps.logged(l.record.seq);
      assert.equal(stamps.baseline("f1", l.version), "");
      // a foreign record in between starts a new run; a rolled-back batch is forgotten
      set.log.append({ op: "setattr", fid: "f0", base: version("f0"), attrs: {}, seq: 0, origin: "other", originSeq: 1, time: 0 } as never, (v) => `${set.replicaId}:${v}`);
      const mine = set.log.append({ op: "setattr", fid: "f2", base: version("f2"), attrs: {}, seq: 0, origin: "r", originSeq: 100, time: 0 } as never, (v) => `${set.replicaId}:${v}`);
      stamps.logged(mine.record.seq);
      assert.equal(stamps.size, 2);
      assert.equal(stamps.baseline("f2", mine.version), "");
      stamps.forgetAfter(mine.record.seq - 1);
      assert.equal(stamps.size, 1);
      assert.equal(stamps.baseline("f2", mine.version), mine.version, "forgotten: the version is its own baseline");
    } finally {
      set.close();
    }
  });
});
