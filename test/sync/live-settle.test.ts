/**
 * The settle revalidation of a live replica (`src/sync/attachment.ts`): once quiet after exchanges
 * that met conflicts or problems, `--watch` compares its objects with the holder's listing once, so
 * what settling races left apart does not stay apart until the holder changes it again (found by
 * the churn test). Here the replica's stamp claims a holder deletion it never applied (as a run cut
 * off mid-exchange can leave it) and its first sync meets a conflict: the file the log will never
 * remove again must go within a few seconds of quiet, with no command — also when the replica is
 * stopped before its quiet period and started again (the restarted run meets no conflict itself).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { IMZ_BIN, runCli, SYNC_BIN, syncJson } from "../helpers/cli.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-live-settle-");
after(() => scratch.cleanup());

/**
 * A replica whose stamp claims the holder's deletion of `gone.txt` it never applied, and a
 * `c.txt` both sides edited (a conflict at the next sync). Returns [replica, holder].
 */
async function apart(): Promise<[string, string]> {
  const [replica, holder] = [scratch.dir(), scratch.dir()];
  put(holder, "keep.txt", "k");
  put(holder, "gone.txt", "the holder deletes this");
  put(holder, "c.txt", "v0");
  assert.equal((await syncJson([replica, holder])).code, 0);
  fs.rmSync(path.join(holder, "gone.txt"));
  assert.equal((await runCli(IMZ_BIN, ["scan", holder])).code, 0);
  const hset = FileSet.open(holder);
  const head = String(hset.log.head());
  hset.close();
  const rset = FileSet.open(replica);
  rset.transaction(() => rset.setMeta("last_seen", head));
  rset.close();
  put(holder, "c.txt", "the holder's edit");
  put(replica, "c.txt", "the replica's edit"); // both sides: a conflict at the first sync
  return [replica, holder];
}

/** `intermezzo-sync --watch replica holder`, its output gathered. */
function watch(replica: string, holder: string): { child: ChildProcess; log: () => string; exited: Promise<void> } {
  const child = spawn(process.execPath, [SYNC_BIN, "--watch", replica, holder], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (b: Buffer) => (log += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return { child, log: () => log, exited };
}

/** Waits until `replica` has lost `gone.txt` and matches `holder`; fails with `log()` after 60 s. */
async function settled(replica: string, holder: string, w: ReturnType<typeof watch>): Promise<void> {
  const same = (): boolean => JSON.stringify(manifest(replica)) === JSON.stringify(manifest(holder));
  for (const end = Date.now() + 60_000; fs.existsSync(path.join(replica, "gone.txt")) || !same(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > end || w.child.exitCode !== null) assert.fail(`the trees stay apart (gone.txt still in the replica?):\n${w.log()}`);
  }
}

async function stop(w: ReturnType<typeof watch>): Promise<void> {
  if (w.child.exitCode === null) process.kill(w.child.pid!, "SIGTERM");
  await w.exited;
}

describe("a live replica gone quiet after a conflict", () => {
  it("revalidates once against the holder: an object the log will never remove again is removed", async () => {
    const [replica, holder] = await apart();
    const w = watch(replica, holder);
    try {
      await settled(replica, holder, w);
      assert.match(w.log(), /conflict \(update\/update\)/);
    } finally {
      await stop(w);
    }
  });

  it("stopped before its quiet period, revalidates once quiet after its restart", async () => {
    const [replica, holder] = await apart();
    const first = watch(replica, holder);
    try {
      // stopped as soon as it is live: its first sync met the conflict, its quiet period not begun
      for (const end = Date.now() + 60_000; !/ live\n/.test(first.log()); await new Promise((r) => setTimeout(r, 5))) {
        if (Date.now() > end || first.child.exitCode !== null) assert.fail(`never live:\n${first.log()}`);
      }
    } finally {
      await stop(first);
    }
    assert.match(first.log(), /conflict \(update\/update\)/);
    assert.ok(fs.existsSync(path.join(replica, "gone.txt")), "stopped before it revalidated");
    const again = watch(replica, holder);
    try {
      await settled(replica, holder, again);
      assert.doesNotMatch(again.log(), /conflict/, "the restarted run meets no conflict itself");
    } finally {
      await stop(again);
    }
  });
});
