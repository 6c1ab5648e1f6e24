/**
 * The holder adopts a replica's new file as one of its own objects (same place, same content) while
 * the replica still has that object elsewhere: the replica copied a file to the name the holder
 * moved it to. Before, settling the adoption renamed the new file's row to a fid the replica's Fsdb
 * already had, and the sync died on `UNIQUE constraint failed: objects.fid` — every time, for good
 * (found by the churn test, where a replica killed while applying the holder's rename re-journaled
 * the moved file as new).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { syncJson } from "../helpers/cli.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-adopt-twice-");
after(() => scratch.cleanup());

describe("a new file adopted as an object the replica has elsewhere", () => {
  it("keeps both files, converges, and a second sync settles nothing", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "f.txt", "the same bytes");
    assert.equal((await syncJson([replica, holder])).code, 0);
    fs.renameSync(path.join(holder, "f.txt"), path.join(holder, "g.txt"));
    fs.copyFileSync(path.join(replica, "f.txt"), path.join(replica, "g.txt"));
    const run = await syncJson([replica, holder]);
    assert.ok(run.code === 0 || run.code === 3, `${run.code}: ${run.stderr}`);
    assert.deepEqual(manifest(replica), manifest(holder));
    const again = await syncJson([replica, holder]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json!.recordsShipped + again.json!.recordsApplied, 0);
    assert.deepEqual(manifest(replica), manifest(holder));
  });
});
