/**
 * A replica whose Fsdb lost a directory the holder still has, with an object below it listed as
 * unapplied (found by the churn test: a replica killed several times ended live with two holder
 * directories missing from its tree and its Fsdb, and every exchange reported `unknown object` for
 * the entries it tried to bring in below them, for good). Bringing an object to the holder's state
 * now brings in the directories above it that the replica lacks, whole, outermost first.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { noteUnapplied, unapplied } from "../../src/sync/unapplied.js";
import { syncJson } from "../helpers/cli.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-lost-dir-");
after(() => scratch.cleanup());

describe("an unapplied object below directories the replica lost", () => {
  it("brings the directories in with it, and the next sync has nothing left to do", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "top/mid/f.txt", "below two directories");
    put(holder, "top/g.txt", "a sibling");
    put(holder, "kept.txt", "outside the lost directory");
    assert.equal((await syncJson([replica, holder])).code, 0);

    // the replica loses `top` from disk and Fsdb alike; `f.txt` is left to bring in
    const set = FileSet.open(replica);
    try {
      const top = set.fsdb.child("root", "top")!;
      const mid = set.fsdb.child(top.fid, "mid")!;
      const f = set.fsdb.child(mid.fid, "f.txt")!;
      set.transaction(() => {
        for (const o of [f, set.fsdb.child(top.fid, "g.txt")!, mid, top]) set.fsdb.delete(o.fid);
        noteUnapplied(set, f.fid);
      });
    } finally {
      set.close();
    }
    fs.rmSync(path.join(replica, "top"), { recursive: true });

    const run = await syncJson([replica, holder]);
    assert.equal(run.code, 0, `${run.stderr}${run.stdout}`);
    assert.deepEqual(run.json!.problems, []);
    assert.equal(fs.readFileSync(path.join(replica, "top/mid/f.txt"), "utf8"), "below two directories");
    const after = FileSet.open(replica);
    try {
      assert.deepEqual(unapplied(after), []);
    } finally {
      after.close();
    }
    const again = await syncJson([replica, holder]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json!.recordsShipped + again.json!.recordsApplied, 0);
    assert.deepEqual(manifest(replica), manifest(holder)); // g.txt too: the lost directory comes back whole
  });
});
