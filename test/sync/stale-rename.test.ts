/**
 * A refused record about an object this replica has removed since (a rename, then a delete of the
 * new name, both pending, while the holder deleted the file): the delete is settled as the same
 * change, and the refused rename has nothing left to revive. Before, it stayed in the CML and came
 * back as the same conflict on every sync (found by the churn test, where such records kept two live
 * replicas exchanging the same conflicts forever).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-stale-rename-");
after(() => scratch.cleanup());

describe("a refused record about an object removed since", () => {
  it("is dropped: the next sync has nothing to ship and reports no conflict", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "docs/f.txt", "v0");
    put(holder, "docs/keep.txt", "k");
    assert.equal((await syncJson([replica, holder])).code, 0);
    fs.renameSync(path.join(replica, "docs/f.txt"), path.join(replica, "docs/g.txt"));
    assert.equal((await runCli(IMZ_BIN, ["scan", replica])).code, 0); // the rename
    fs.rmSync(path.join(replica, "docs/g.txt"));
    assert.equal((await runCli(IMZ_BIN, ["scan", replica])).code, 0); // then the delete, apart
    fs.rmSync(path.join(holder, "docs/f.txt"));
    const run = await syncJson([replica, holder]);
    assert.ok(run.code === 0 || run.code === 3, run.stderr);
    assert.deepEqual(manifest(replica), manifest(holder));
    const again = await syncJson([replica, holder]);
    assert.equal(again.code, 0, `${again.stderr}${again.stdout}`);
    assert.equal(again.json!.recordsShipped + again.json!.recordsApplied, 0);
  });
});
