/**
 * Bringing one object to the holder's state (`restoreOne`) in steps — its place, then its content,
 * then its attributes — stamps it with the holder's version only once every step is done. Found by
 * the churn test (seed 618194692): a replica killed mid-apply restarted, its writer edited a file
 * before Lento looked at it, and revalidation moved the file to the holder's new name (done) but
 * could not replace its content (the local edit, rightly left in place). The rename's commit had
 * already stamped the row with the holder's newest version, so the local edit was then shipped as
 * based on the holder's content it had never seen, and accepted over it without a conflict: that
 * holder version was lost without a copy.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { ExitCode } from "../../src/cli/exit.js";
import { noteUnapplied } from "../../src/sync/unapplied.js";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { put, scratchDirs, withSet } from "../helpers/tree.js";
import { tokensKept } from "../helpers/churn.js";

const scratch = scratchDirs("imz-restore-stamp-");
after(() => scratch.cleanup());


describe("a holder version brought in partly", () => {
  it("is not stamped on the replica's row: the local edit left in place later conflicts with it, and both are kept", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "f.txt", "tok-h-1.");
    assert.equal((await syncJson([replica, holder])).code, 0);

    // the holder renames and edits the file; the replica is to bring it in (revalidation listed it)
    fs.renameSync(path.join(holder, "f.txt"), path.join(holder, "g.txt"));
    fs.writeFileSync(path.join(holder, "g.txt"), "tok-h-2.tok-h-2.");
    assert.equal((await runCli(IMZ_BIN, ["scan", holder])).code, 0);
    const head = withSet(holder, (s) => String(s.log.head()));
    withSet(replica, (s) =>
      s.transaction(() => {
        s.setMeta("last_seen", head);
        noteUnapplied(s, s.fsdb.child("root", "f.txt")!.fid);
        // a filter journals this tree (this process stands for it): the sync does not scan it
        s.filterEvent("attach", { pid: process.pid, host: os.hostname() });
      }),
    );
    // an edit made here that nothing has journaled yet
    fs.writeFileSync(path.join(replica, "f.txt"), "tok-r-1.tok-r-1.tok-r-1.");

    const first = await syncJson([replica, holder]);
    assert.equal(first.code, ExitCode.PARTIAL, `${first.stderr}${first.stdout}`);
    assert.ok(first.json!.problems.some((p) => p.code === "IO"), "the local edit is left in place");
    assert.equal(fs.readFileSync(path.join(replica, "g.txt"), "utf8"), "tok-r-1.tok-r-1.tok-r-1.");

    // the filter is gone: the next sync scans the edit and ships it
    withSet(replica, (s) => s.filterEvent("detach"));
    const second = await syncJson([replica, holder]);
    assert.equal(second.code, ExitCode.CONFLICTS, `${second.stderr}${second.stdout}`);
    assert.deepEqual(second.json!.conflicts.map((c) => c.kind), ["update/update"]);
    const found = tokensKept([holder, replica]);
    assert.ok(found.has("tok-r-1."), "the local edit is kept");
    assert.ok(found.has("tok-h-2."), "the holder's version is kept");
  });

  it("a rename of ours accepted over the holder's edit (a merge) leaves the row's stamp until that edit is here (seed 47164920)", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "f.txt", "tok-h-1.");
    assert.equal((await syncJson([replica, holder])).code, 0);
    // the holder edits the file; the replica renames it (journaled), then edits it unjournaled
    fs.writeFileSync(path.join(holder, "f.txt"), "tok-h-2.tok-h-2.");
    assert.equal((await runCli(IMZ_BIN, ["scan", holder])).code, 0);
    fs.renameSync(path.join(replica, "f.txt"), path.join(replica, "g.txt"));
    assert.equal((await runCli(IMZ_BIN, ["scan", replica])).code, 0);
    withSet(replica, (s) => s.filterEvent("attach", { pid: process.pid, host: os.hostname() }));
    fs.writeFileSync(path.join(replica, "g.txt"), "tok-r-1.tok-r-1.tok-r-1.");

    // the rename wins (rename/update merges), the holder's content cannot come in over the edit
    const first = await syncJson([replica, holder]);
    assert.ok(first.json, `${first.stderr}${first.stdout}`);
    assert.deepEqual(first.json.conflicts.map((c) => c.kind), ["rename/update"]);
    assert.equal(fs.readFileSync(path.join(replica, "g.txt"), "utf8"), "tok-r-1.tok-r-1.tok-r-1.");

    withSet(replica, (s) => s.filterEvent("detach"));
    const second = await syncJson([replica, holder]);
    assert.ok(second.json, `${second.stderr}${second.stdout}`);
    const found = tokensKept([holder, replica]);
    assert.ok(found.has("tok-r-1."), "the local edit is kept");
    assert.ok(found.has("tok-h-2."), "the holder's edit is kept");
  });
});
