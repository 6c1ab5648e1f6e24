/**
 * Reintegration a window of the CML at a time (`reintegrate`'s `window`, here as small as one
 * record): a window boundary between a file's create and its delete, inside a rename chain, or
 * after a directory the holder adopted still gives the holder the replica's tree, with no problem
 * and nothing left in the CML. Real file sets, the holder in process.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets, type SyncOptions, type SyncReport } from "../../src/sync/sync.js";
import { leftoverTemps, manifest, put, scratchDirs, scanned } from "../helpers/tree.js";

const scratch = scratchDirs("imz-cml-window-");
after(() => scratch.cleanup());

const SYNC: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: true, replicaIsSrc: true };

async function syncIn(replica: string, holder: string, window: number): Promise<SyncReport> {
  const r = await syncFileSets(replica, new LentoServer(holder, { owner: true }), { ...SYNC, cmlWindow: window });
  assert.deepEqual(r.problems, [], `window ${window}`);
  assert.deepEqual(r.conflicts, [], `window ${window}`);
  return r;
}

function pending(root: string): number {
  const set = FileSet.open(root);
  try {
    return set.cml.count();
  } finally {
    set.close();
  }
}

describe("reintegration in windows of the CML", () => {
  for (const window of [1, 2, 3, 5]) {
    it(`a CML with a create..delete pair and a rename chain across windows of ${window} replays to the replica's tree`, async () => {
      const replica = scratch.dir();
      const holder = scratch.dir();
      put(replica, "keep/k.txt", "kept");
      await syncIn(replica, holder, window);

      put(replica, "a.txt", "short-lived");
      put(replica, "keep/moving.txt", "moves three times");
      await scanned(replica);
      fs.renameSync(path.join(replica, "a.txt"), path.join(replica, "b.txt"));
      fs.renameSync(path.join(replica, "keep/moving.txt"), path.join(replica, "m1.txt"));
      fs.mkdirSync(path.join(replica, "new"));
      await scanned(replica);
      fs.rmSync(path.join(replica, "b.txt"));
      fs.renameSync(path.join(replica, "m1.txt"), path.join(replica, "new/m2.txt"));
      fs.writeFileSync(path.join(replica, "keep/k.txt"), "kept, then changed");
      await scanned(replica);
      fs.renameSync(path.join(replica, "new/m2.txt"), path.join(replica, "keep/m3.txt"));
      fs.writeFileSync(path.join(replica, "keep/k.txt"), "kept, changed twice");
      put(replica, "new/gone.txt", "written and removed before any sync");
      await scanned(replica);
      fs.rmSync(path.join(replica, "new/gone.txt"));
      assert.ok(pending(replica) >= 8, "the CML holds the whole history");

      const r = await syncIn(replica, holder, window);
      assert.ok(r.recordsShipped > 0);
      assert.deepEqual(manifest(holder), manifest(replica));
      assert.equal(pending(replica), 0);
      assert.deepEqual([...leftoverTemps(holder), ...leftoverTemps(replica)], []);
    });
  }

  it("a directory the holder adopts in one window is the parent of records in the next", async () => {
    const replica = scratch.dir();
    const holder = scratch.dir();
    for (const root of [replica, holder]) {
      put(root, "d/x.txt", "same on both sides");
      put(root, "d/e/y.txt", "also the same");
    }
    put(replica, "d/only-here.txt", "new");
    put(replica, "d/e/f/deep.txt", "new and deep");
    await syncIn(replica, holder, 1);
    assert.deepEqual(manifest(holder), manifest(replica));
    assert.equal(pending(replica), 0);
    // and the pair stays in step: a second run has nothing to do
    const again = await syncIn(replica, holder, 1);
    assert.equal(again.recordsShipped + again.recordsApplied, 0);
  });
});
