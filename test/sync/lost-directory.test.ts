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
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
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

describe("an exchange that did not complete", () => {
  it("makes the next one revalidate: an object the log will never remove again is removed, one it will never bring is brought", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "kept.txt", "k");
    put(holder, "gone.txt", "the holder deletes this");
    assert.equal((await syncJson([replica, holder])).code, 0);
    fs.rmSync(path.join(holder, "gone.txt"));
    put(holder, "new.txt", "the holder makes this");
    assert.equal((await runCli(IMZ_BIN, ["scan", holder])).code, 0);
    // the replica's Fsdb claims the holder's log up to its head, as a run cut off mid-exchange can
    // leave it (its group rolled back, its scan taking Lento's half-done work for the user's)
    const head = metaOf(holder, (s) => String(s.log.head()));
    const set = FileSet.open(replica);
    try {
      set.transaction(() => set.setMeta("last_seen", head));
    } finally {
      set.close();
    }
    const quiet = await syncJson([replica, holder]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.ok(fs.existsSync(path.join(replica, "gone.txt")), "a completed exchange trusts its stamp: nothing to apply");

    const open = FileSet.open(replica);
    try {
      open.transaction(() => open.setMeta("exchange_open", "2026-12-03T00:00:00.000Z"));
    } finally {
      open.close();
    }
    const run = await syncJson([replica, holder]);
    assert.equal(run.code, 0, `${run.stderr}${run.stdout}`);
    assert.deepEqual(manifest(replica), manifest(holder));
    assert.equal(metaOf(replica, (s) => s.metaOr("exchange_open", "")), "", "cleared once the exchange completes");
  });
});

describe("a directory to restore that the holder deleted, with entries here", () => {
  it("goes with everything below it that has no change here (churn seed 31337: 'the directory still has entries in the Fsdb', for good)", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "top/mid/f.txt", "below two directories");
    put(holder, "top/g.txt", "a sibling");
    put(holder, "kept.txt", "outside");
    assert.equal((await syncJson([replica, holder])).code, 0);
    fs.rmSync(path.join(holder, "top"), { recursive: true });
    assert.equal((await runCli(IMZ_BIN, ["scan", holder])).code, 0);
    // the replica is to bring `top` to the holder's state (a conflict settled that way left it
    // listed), its log already past the deletion
    const head = metaOf(holder, (s) => String(s.log.head()));
    const set = FileSet.open(replica);
    try {
      set.transaction(() => {
        set.setMeta("last_seen", head);
        noteUnapplied(set, set.fsdb.child("root", "top")!.fid);
      });
    } finally {
      set.close();
    }
    const run = await syncJson([replica, holder]);
    assert.equal(run.code, 0, `${run.stderr}${run.stdout}`);
    assert.deepEqual(run.json!.problems, []);
    assert.deepEqual(manifest(replica), manifest(holder));
    assert.deepEqual(metaOf(replica, (s) => unapplied(s).join(",")), "");
  });
});

function metaOf(root: string, read: (s: FileSet) => string): string {
  const set = FileSet.open(root);
  try {
    return read(set);
  } finally {
    set.close();
  }
}
