/**
 * The holder's creation of an object this replica already has twice: at the creation's place under
 * a fid of its own (the same content: `identical`), and elsewhere under the holder's fid (a row a
 * crash or a restore left there). Found by the churn test on a fresh clone: taking the holder's fid
 * for the first failed with `UNIQUE constraint failed: objects.fid` — an internal error with a stack
 * trace on every exchange, for good. As at reintegration (`src/sync/twin.ts`), the one elsewhere now gives up
 * the fid: it becomes an object of its own, shipped by the next sync, and nothing is lost.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-update-twin-");
after(() => scratch.cleanup());

describe("a holder's creation of an object the replica has at its place and elsewhere", () => {
  it("keeps both, with no internal error, and converges", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "keep.txt", "k");
    assert.equal((await syncJson([replica, holder])).code, 0);
    // two copies journaled here, then forgotten by the CML: as if they had long been synced
    const when = new Date("2026-01-01T00:00:00Z");
    put(holder, "x.txt", "same");
    fs.utimesSync(path.join(holder, "x.txt"), when, when);
    assert.equal((await runCli(IMZ_BIN, ["scan", holder])).code, 0);
    put(replica, "x.txt", "same");
    fs.utimesSync(path.join(replica, "x.txt"), when, when); // the very same file as the holder's
    put(replica, "elsewhere.txt", "same");
    assert.equal((await runCli(IMZ_BIN, ["scan", replica])).code, 0);
    const hset = FileSet.open(holder);
    const theirs = hset.fsdb.child(ROOT_FID, "x.txt")!.fid;
    hset.close();
    const rset = FileSet.open(replica);
    rset.transaction(() => {
      rset.db.exec("DELETE FROM cml");
      rset.fsdb.remap(rset.fsdb.child(ROOT_FID, "elsewhere.txt")!.fid, theirs); // the holder's fid, elsewhere
    });
    rset.close();

    const run = await syncJson([replica, holder]);
    assert.equal(run.code, 0, `${run.stderr}${run.stdout}`);
    const again = await syncJson([replica, holder]);
    assert.equal(again.code, 0, `${again.stderr}${again.stdout}`);
    assert.deepEqual(manifest(replica), manifest(holder));
    assert.equal(fs.readFileSync(path.join(holder, "elsewhere.txt"), "utf8"), "same");
  });
});
