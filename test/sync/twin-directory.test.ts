/**
 * A directory this replica knows under a fid of its own where the holder has its own directory of
 * that name, both listed to be brought to the holder's state (found by the churn test, seed
 * 764140753, on a fresh clone: the trees agreed on disk, but every later sync reported that the
 * holder's directory could not be made — `EEXIST` — that the replica's could not be removed — it
 * still had entries — and that the files below could not be placed — `unknown object`). The
 * replica's directory, which the holder does not have and which has no change pending here, is
 * taken as the holder's: the next sync has nothing left to do.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { noteUnapplied, unapplied } from "../../src/sync/unapplied.js";
import { syncJson } from "../helpers/cli.js";
import { manifest, put, scratchDirs, withSet } from "../helpers/tree.js";

const scratch = scratchDirs("imz-twin-dir-");
after(() => scratch.cleanup());

describe("a directory the replica knows under another fid than the holder's", () => {
  it("is taken as the holder's when both are to be restored: no problem, and nothing left to do", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "d/f.txt", "below the directory");
    put(holder, "d/e/g.txt", "deeper");
    assert.equal((await syncJson([replica, holder])).code, 0);
    // the replica's row of `d` carries a fid of its own, and both fids are listed
    const theirs = withSet(replica, (s) => s.fsdb.child("root", "d")!.fid);
    withSet(replica, (s) =>
      s.transaction(() => {
        const own = `${s.replicaId}:999999`;
        s.fsdb.remap(theirs, own);
        s.fsdb.put({ ...s.fsdb.must(own), version: "" });
        noteUnapplied(s, theirs);
        noteUnapplied(s, own);
        noteUnapplied(s, s.fsdb.child(own, "f.txt")!.fid);
      }),
    );

    const run = await syncJson([replica, holder]);
    assert.ok(run.json, `${run.stderr}${run.stdout}`);
    assert.deepEqual(run.json.problems, []);
    assert.equal(withSet(replica, (s) => s.fsdb.child("root", "d")!.fid), theirs, "the replica's directory is the holder's now");
    assert.deepEqual(withSet(replica, (s) => unapplied(s)), []);
    assert.deepEqual(manifest(replica), manifest(holder));
    const again = await syncJson([replica, holder]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.json!.problems, []);
    assert.equal(again.json!.recordsShipped + again.json!.recordsApplied, 0);
  });
});
