/**
 * A holder record that does not fit the replica because an earlier record failed here, with no
 * change pending to explain it. Found by the churn test (seed 225288485): a replica could not make
 * a directory another replica had made (its parent had just been moved away here, not yet
 * journaled); the next record, that other replica's rename of a file into the new directory, then
 * met "the server deleted the directory this replica moved into", was reported as a conflict left
 * pending with nothing pending, and was passed for good. The file kept its old place here while the
 * holder had it in the new directory, and no later sync changed that. Such an object is now listed
 * to be brought to the holder's state.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { unapplied } from "../../src/sync/unapplied.js";
import { syncJson } from "../helpers/cli.js";
import { manifest, put, scratchDirs, withSet } from "../helpers/tree.js";

const scratch = scratchDirs("imz-out-of-step-");
after(() => scratch.cleanup());

describe("a holder rename into a directory whose own record failed here", () => {
  it("is brought in once the directory can be: the trees end identical", async () => {
    const [replica, holder, away] = [scratch.dir(), scratch.dir(), scratch.dir()];
    put(holder, "q/f.txt", "the file the holder moves");
    put(holder, "p/keep.txt", "a sibling");
    assert.equal((await syncJson([replica, holder])).code, 0);

    // the holder makes p/d and moves the file into it
    fs.mkdirSync(path.join(holder, "p/d"));
    fs.renameSync(path.join(holder, "q/f.txt"), path.join(holder, "p/d/f.txt"));
    // meanwhile p is moved out of the replica's tree, not yet journaled there (a filter journals
    // this tree — this process stands for it — so the sync does not scan it)
    withSet(replica, (s) => s.filterEvent("attach", { pid: process.pid, host: os.hostname() }));
    fs.renameSync(path.join(replica, "p"), path.join(away, "p"));

    const first = await syncJson([replica, holder]);
    assert.ok(first.json, `${first.stderr}${first.stdout}`);
    assert.ok(first.json.problems.some((p) => p.path.startsWith("p/d")), "making p/d fails here");
    assert.deepEqual(first.json.conflicts, [], "no change is pending here: nothing to report as a conflict");
    const f = withSet(holder, (s) => s.fsdb.child(s.fsdb.child(s.fsdb.child("root", "p")!.fid, "d")!.fid, "f.txt")!.fid);
    assert.ok(
      withSet(replica, (s) => unapplied(s)).includes(f),
      "the file is listed to be brought to the holder's state",
    );

    // the move is journaled (the filter gone, a sync scans), and the replica's delete of p settled
    withSet(replica, (s) => s.filterEvent("detach", {}));
    for (let i = 0; i < 2; i++) {
      const run = await syncJson([replica, holder]);
      assert.ok(run.json, `${run.stderr}${run.stdout}`);
    }
    assert.deepEqual(manifest(replica), manifest(holder));
    assert.equal(fs.readFileSync(path.join(replica, "p/d/f.txt"), "utf8"), "the file the holder moves");
    assert.deepEqual(withSet(replica, (s) => unapplied(s)), []);
  });
});
