/**
 * Keep-both of a new file the replica created and then renamed (two pending records) while the holder
 * created a file at its first name (create/create): the replica's file goes to a conflict name once.
 * Before, the aside rewrote the pending rename, and the creation — still at the contested name — was
 * refused again the next round, and again, each round adding a `.conflict-…` suffix to the copy's name
 * (16 rounds) until it passed NAME_MAX: found by the churn test, where a live replica restarted after
 * a SIGKILL re-journaled a file Lento had placed, and then failed every exchange.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-aside-renamed-");
after(() => scratch.cleanup());

describe("keep-both of a file with a pending rename", () => {
  it("puts the replica's file aside once; the holder's keeps the name; a second sync settles nothing", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "docs/index.txt", "v0");
    assert.equal((await syncJson([replica, holder])).code, 0);
    put(replica, "docs/f.txt", "made on the replica");
    assert.equal((await runCli(IMZ_BIN, ["scan", replica])).code, 0); // journals the create
    fs.mkdirSync(path.join(replica, "docs/sub"));
    fs.renameSync(path.join(replica, "docs/f.txt"), path.join(replica, "docs/sub/g.txt"));
    assert.equal((await runCli(IMZ_BIN, ["scan", replica])).code, 0); // and the rename, apart
    put(holder, "docs/f.txt", "made on the holder");
    const run = await syncJson([replica, holder]);
    assert.ok(run.code === 0 || run.code === 3, run.stderr);
    const all = manifest(replica).filter((e) => e.type === "f").map((e) => e.path);
    assert.ok(all.every((p) => (p.match(/\.conflict-/g) ?? []).length <= 1), JSON.stringify(all));
    const texts = all.map((p) => fs.readFileSync(path.join(replica, p), "utf8")).sort();
    assert.deepEqual(texts, ["made on the holder", "made on the replica", "v0"]);
    assert.equal(fs.readFileSync(path.join(replica, "docs/f.txt"), "utf8"), "made on the holder");
    assert.deepEqual(manifest(replica), manifest(holder));
    const again = await syncJson([replica, holder]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json!.recordsShipped + again.json!.recordsApplied, 0);
  });

  it("an edit then a rename of a file the holder edited (update/update): the replica's version becomes one copy, not a name renamed each round", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "docs/f.txt", "v0");
    assert.equal((await syncJson([replica, holder])).code, 0);
    put(replica, "docs/f.txt", "edited on the replica");
    assert.equal((await runCli(IMZ_BIN, ["scan", replica])).code, 0); // journals the close
    fs.renameSync(path.join(replica, "docs/f.txt"), path.join(replica, "docs/g.txt"));
    assert.equal((await runCli(IMZ_BIN, ["scan", replica])).code, 0); // and the rename, after it
    put(holder, "docs/f.txt", "edited on the holder");
    const run = await syncJson([replica, holder]);
    assert.equal(run.code, 3, run.stderr);
    const all = manifest(replica).filter((e) => e.type === "f").map((e) => e.path);
    assert.ok(all.every((p) => (p.match(/\.conflict-/g) ?? []).length <= 1), JSON.stringify(all));
    const texts = all.map((p) => fs.readFileSync(path.join(replica, p), "utf8")).sort();
    assert.deepEqual(texts, ["edited on the holder", "edited on the replica"]);
    assert.deepEqual(manifest(replica), manifest(holder));
    const again = await syncJson([replica, holder]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json!.recordsShipped + again.json!.recordsApplied, 0);
  });
});
