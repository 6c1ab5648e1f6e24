/**
 * A round of conflict settlement that cannot finish loses no revived version. Found by the churn
 * test (seed 1032498923, traced): a replica's edit of a file the holder had deleted was settled by
 * reviving it — a new fid, its pending records dropped, its creation kept in memory to be put in
 * front of the CML when the round ended. A later conflict of the same round failed (its file had
 * been moved away a moment before: `ENOENT`), the exchange ended with that error, and the creation
 * was never journaled; the next exchange's revalidation found a file the holder did not have, with
 * nothing pending, and removed it. Now a conflict whose settlement fails is a per-path problem left
 * pending for the next exchange, and a revival's records are dropped only in the transaction that
 * journals its creation.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { tokensKept } from "../helpers/churn.js";
import { put, scratchDirs, withSet } from "../helpers/tree.js";

const scratch = scratchDirs("imz-revive-abort-");
after(() => scratch.cleanup());


describe("a settlement round in which one conflict cannot be settled", () => {
  it("still ships the version another conflict of the round revived, and reports the one it could not settle", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "f.txt", "tok-h-1.");
    put(holder, "g.txt", "tok-h-2.");
    assert.equal((await syncJson([replica, holder])).code, 0);

    // the holder deletes f.txt and edits g.txt; the replica edits both (journaled, f first)
    fs.rmSync(path.join(holder, "f.txt"));
    fs.writeFileSync(path.join(holder, "g.txt"), "tok-h-3.tok-h-3.");
    assert.equal((await runCli(IMZ_BIN, ["scan", holder])).code, 0);
    fs.writeFileSync(path.join(replica, "f.txt"), "tok-r-1.tok-r-1.tok-r-1.");
    fs.writeFileSync(path.join(replica, "g.txt"), "tok-r-2.tok-r-2.tok-r-2.tok-r-2.");
    assert.equal((await runCli(IMZ_BIN, ["scan", replica])).code, 0);
    // g.txt then moves out of the tree before the sync looks at it (a filter journals this tree,
    // which this process stands for: the sync does not scan it)
    withSet(replica, (s) => s.filterEvent("attach", { pid: process.pid, host: os.hostname() }));
    fs.renameSync(path.join(replica, "g.txt"), path.join(scratch.dir(), "g-away.txt"));

    const first = await syncJson([replica, holder]);
    assert.ok(first.json, `${first.stderr}${first.stdout}`);
    assert.ok(first.json.problems.some((p) => p.path === "g.txt"), JSON.stringify(first.json.problems));

    withSet(replica, (s) => s.filterEvent("detach"));
    const second = await syncJson([replica, holder]);
    assert.ok(second.json, `${second.stderr}${second.stdout}`);
    const found = tokensKept([holder, replica]);
    assert.ok(found.has("tok-r-1."), "the replica's revived edit of f.txt is kept");
    assert.ok(found.has("tok-h-3."), "the holder's g.txt is kept");
    assert.equal(fs.readFileSync(path.join(holder, "f.txt"), "utf8"), "tok-r-1.tok-r-1.tok-r-1.");
  });
});
