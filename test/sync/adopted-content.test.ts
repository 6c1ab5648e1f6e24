/**
 * Content asked of a replica by the fid it now uses. When the holder answers a replica's creation
 * with "identical" (the same file made on both sides), the replica takes the holder's fid for it at
 * once; the holder remembered, for the rest of the connection, to ask the replica for content under
 * the replica's old fid. A later edit of that file shipped on the same connection — a live replica's
 * next exchange, or a later window of one sync — then had its content asked under a fid the replica
 * no longer had: `RECORD_INVALID` ("no object … here") on every exchange, the edit never reaching the
 * holder (churn seed 1353109498, traced). The holder now asks by the fid each record arrived with.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets, type SyncOptions } from "../../src/sync/sync.js";
import { manifest, put, scratchDirs, scanned } from "../helpers/tree.js";

const scratch = scratchDirs("imz-adopted-content-");
after(() => scratch.cleanup());

const SYNC: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: true, replicaIsSrc: true };

describe("a file adopted as the holder's, then edited, on one connection", () => {
  it("has its edit's content asked under the fid the replica now uses", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "keep.txt", "k");
    await syncFileSets(replica, new LentoServer(holder, { owner: true }), SYNC);
    // one holder connection for two exchanges, as a live replica's (its server object lives on)
    const connection = new LentoServer(holder, { owner: true });
    // the same file made on both sides: the replica's creation is adopted as the holder's
    put(holder, "x.txt", "made on both sides");
    await scanned(holder);
    put(replica, "x.txt", "made on both sides");
    const first = await syncFileSets(replica, connection, SYNC);
    assert.deepEqual([first.problems, first.conflicts], [[], []]);
    // then edited here, and shipped on the same connection
    fs.writeFileSync(path.join(replica, "x.txt"), "then edited here");
    const second = await syncFileSets(replica, connection, SYNC);
    assert.deepEqual([second.problems, second.conflicts], [[], []]);
    assert.equal(fs.readFileSync(path.join(holder, "x.txt"), "utf8"), "then edited here");
    assert.deepEqual(manifest(replica), manifest(holder));
  });
});
