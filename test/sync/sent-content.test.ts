/**
 * A close is logged with the content the holder took in. A replica's record states the content
 * its scan saw; the bytes are read when the holder asks for them, and a writer may have changed the
 * file in between (the churn test's writers truncate, then write: the watcher journaled the empty
 * file, and the holder received the written one). The holder installed what it received but logged
 * the record as stated, so another replica took in the stated version — made without a transfer
 * from a local file of that content — and its writer's next edit replaced the holder's content
 * without a conflict (churn seed 877284262, traced). The record is now logged as received.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { manifest, put, scratchDirs, withSet } from "../helpers/tree.js";

const scratch = scratchDirs("imz-sent-content-");
after(() => scratch.cleanup());

describe("a file changed between its scan and its send", () => {
  it("reaches the other replicas as the holder took it in", async () => {
    const [one, two, holder] = [scratch.dir(), scratch.dir(), scratch.dir()];
    put(holder, "f.txt", "the first version");
    for (const r of [one, two]) assert.equal((await syncJson([r, holder])).code, 0);
    // replica one's scan sees the file truncated; its writer then writes the new version, unscanned
    // (a filter journals this tree, which this process stands for: the sync does not scan it)
    fs.writeFileSync(path.join(one, "f.txt"), "");
    assert.equal((await runCli(IMZ_BIN, ["scan", one])).code, 0);
    withSet(one, (s) => s.filterEvent("attach", { pid: process.pid, host: os.hostname() }));
    fs.writeFileSync(path.join(one, "f.txt"), "written after the truncation");
    const shipped = await syncJson([one, holder]);
    assert.equal(shipped.code, 0, `${shipped.stderr}${shipped.stdout}`);
    assert.equal(fs.readFileSync(path.join(holder, "f.txt"), "utf8"), "written after the truncation");

    // replica two has a file with the stated (empty) content: the version logged is made from it
    put(two, "empty.txt", "");
    const other = await syncJson([two, holder]);
    assert.equal(other.code, 0, `${other.stderr}${other.stdout}`);
    assert.equal(fs.readFileSync(path.join(two, "f.txt"), "utf8"), "written after the truncation");
    assert.deepEqual(manifest(two), manifest(holder));
  });
});
