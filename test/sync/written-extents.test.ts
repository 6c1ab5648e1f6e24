/**
 * Written extents (issue 13, item 4), through a real Presto mount: a file changed in place through
 * the mount is sent as exactly the ranges its close record names, written into the holder's file in
 * place, byte-identical; a receiver whose file is not the extents' base gets the delta instead.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import type { JournalRecord } from "../../src/journal/records.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets, type SyncOptions, type SyncReport } from "../../src/sync/sync.js";
import { startMount, stopMount, withFilteredReplica, type FilteredReplica } from "../filter/fuse-helpers.js";
import { syncJson } from "../helpers/cli.js";
import { leftoverTemps, manifest, randomBytes, tempDir } from "../helpers/tree.js";

const SYNC: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: true, replicaIsSrc: true };
const MiB = 1 << 20;
const SIZE = 16 * MiB;

async function syncTo(replica: string, holder: string): Promise<SyncReport> {
  const r = await syncFileSets(replica, new LentoServer(holder, { owner: true }), SYNC);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.conflicts, []);
  return r;
}

/** Syncs the mounted replica and checks the holder has its bytes exactly, with no temp or undo file left. */
async function syncExact(r: FilteredReplica): Promise<SyncReport> {
  const report = await syncTo(r.dir, r.holder);
  assert.deepEqual(manifest(r.holder), manifest(r.dir));
  assert.deepEqual([...leftoverTemps(r.holder), ...leftoverTemps(r.dir)], []);
  return report;
}

/** The pending close records of the replica. */
function pendingCloses(dir: string): Array<Extract<JournalRecord, { op: "close" }>> {
  const set = FileSet.open(dir);
  try {
    return set.cml.all().filter((c): c is Extract<JournalRecord, { op: "close" }> => c.op === "close");
  } finally {
    set.close();
  }
}

function writeAt(file: string, at: number, data: Buffer): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, data, 0, data.length, at);
  } finally {
    fs.closeSync(fd);
  }
}

describe("written extents through the mount", () => {
  it("an append and a 4 KiB overwrite move exactly their bytes, written into the holder's file in place", async () => {
    await withFilteredReplica(async (r) => {
      const log = path.join(r.mnt, "log");
      const held = path.join(r.holder, "log");
      fs.writeFileSync(log, randomBytes(SIZE, 1));
      await syncExact(r);
      const ino = fs.statSync(held).ino;

      fs.appendFileSync(log, randomBytes(MiB, 2));
      const [append] = pendingCloses(r.dir);
      assert.deepEqual(append?.extents?.ranges, [[SIZE, MiB]]);
      const appended = await syncExact(r);
      assert.equal(appended.bytesSent, MiB, "the appended MiB and nothing else");
      assert.equal(appended.bytesReceived, 0, "no signature");
      assert.equal(fs.statSync(held).ino, ino, "changed in place");

      writeAt(log, 5 * MiB + 123, randomBytes(4096, 3));
      assert.deepEqual(pendingCloses(r.dir)[0]?.extents?.ranges, [[5 * MiB + 123, 4096]]);
      const overwritten = await syncExact(r);
      assert.equal(overwritten.bytesSent, 4096);
      assert.equal(fs.statSync(held).ino, ino);
      assert.ok(fs.readFileSync(held).equals(fs.readFileSync(path.join(r.dir, "log"))));
    });
  });

  it("over a wire (the holder a serve --stdio child): the appended MiB, its record and the framing cross it", async () => {
    await withFilteredReplica(async (r) => {
      const log = path.join(r.mnt, "log");
      fs.writeFileSync(log, randomBytes(SIZE, 15));
      await syncExact(r);
      fs.appendFileSync(log, randomBytes(MiB, 16));
      const run = await syncJson(["--transport", "stdio", r.dir, r.holder]);
      assert.equal(run.code, 0, run.stderr);
      const wire = run.json!.wire.sent + run.json!.wire.received;
      // about 2 KiB besides the MiB (the handshake, the record, the replies); a delta would add its
      // signature of the 16 MiB basis (≈ 38 KiB) on top
      assert.ok(wire >= MiB && wire < MiB + 8 * 1024, `${wire} bytes on the wire`);
      assert.deepEqual(manifest(r.holder), manifest(r.dir));
    });
  });

  it("several writes and closes before a sync: their union moves; a truncation counts", async () => {
    await withFilteredReplica(async (r) => {
      const log = path.join(r.mnt, "log");
      fs.writeFileSync(log, randomBytes(SIZE, 4));
      await syncExact(r);
      writeAt(log, 100, randomBytes(1000, 5));
      writeAt(log, 8 * MiB, randomBytes(2000, 6));
      fs.truncateSync(log, 12 * MiB);
      fs.appendFileSync(log, randomBytes(3000, 7));
      const closes = pendingCloses(r.dir);
      assert.deepEqual(closes.at(-1)?.extents?.ranges, [
        [100, 1000],
        [8 * MiB, 2000],
        [12 * MiB, 3000],
      ]);
      const report = await syncExact(r);
      assert.equal(report.bytesSent, 6000);
    });
  });

  it("a receiver whose file is not the extents' base version gets a delta, and the same bytes", async () => {
    await withFilteredReplica(async (r) => {
      const log = path.join(r.mnt, "log");
      fs.writeFileSync(log, randomBytes(SIZE, 8));
      await syncExact(r);
      // a second replica, one version behind from here on
      const behind = tempDir("imz-behind-");
      try {
        await syncTo(behind, r.holder);
        fs.appendFileSync(log, randomBytes(MiB, 9));
        await syncExact(r);
        fs.appendFileSync(log, randomBytes(MiB, 10));
        assert.deepEqual(pendingCloses(r.dir)[0]?.extents?.ranges, [[SIZE + MiB, MiB]]);
        await syncExact(r);
        // the holder's log has both closes; `behind` holds the version before the first
        const caughtUp = await syncTo(behind, r.holder);
        assert.ok(fs.readFileSync(path.join(behind, "log")).equals(fs.readFileSync(path.join(r.dir, "log"))));
        assert.ok(caughtUp.bytesSent > 0, "a signature went up: a delta, not extents");
        assert.deepEqual(leftoverTemps(behind), []);
      } finally {
        fs.rmSync(behind, { recursive: true, force: true });
      }
    });
  });

  it("extents whose base hash is not the receiver's are not used (a delta moves the change)", async () => {
    await withFilteredReplica(async (r) => {
      const log = path.join(r.mnt, "log");
      fs.writeFileSync(log, randomBytes(SIZE, 11));
      await syncExact(r);
      writeAt(log, 3 * MiB, randomBytes(4096, 12));
      // forge the base hash the record names: the holder's file is then not the extents' base
      const set = FileSet.open(r.dir);
      try {
        const close = set.cml.all().find((c) => c.op === "close")!;
        assert.ok(close.op === "close" && close.extents);
        set.transaction(() => set.cml.replace({ ...close, extents: { ...close.extents!, baseHash: "ab".repeat(32) } }));
      } finally {
        set.close();
      }
      const report = await syncExact(r);
      assert.ok(report.bytesReceived > 0, "the holder sent a signature");
    });
  });

  it("a holder mounted through the filter: a replica fetching the change gets the extents, in place", async () => {
    const holder = tempDir("imz-holder-");
    const replica = tempDir("imz-replica-");
    const mnt = tempDir("imz-mnt-");
    fs.writeFileSync(path.join(holder, "log"), randomBytes(SIZE, 13));
    const child = await (async () => {
      await syncTo(replica, holder);
      return startMount(holder, mnt);
    })();
    try {
      const ino = fs.statSync(path.join(replica, "log")).ino;
      fs.appendFileSync(path.join(mnt, "log"), randomBytes(MiB, 14));
      const report = await syncTo(replica, holder);
      assert.equal(report.bytesReceived, MiB, "the appended MiB and nothing else");
      assert.equal(report.bytesSent, 0, "no signature");
      assert.equal(fs.statSync(path.join(replica, "log")).ino, ino, "changed in place");
      assert.deepEqual(manifest(replica), manifest(holder));
      assert.deepEqual(leftoverTemps(replica), []);
    } finally {
      await stopMount(child, mnt);
      for (const d of [holder, replica, mnt]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
