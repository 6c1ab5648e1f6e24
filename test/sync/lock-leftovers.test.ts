/**
 * Private lock files left in `.intermezzo/` (`src/journal/lock-file.ts`): a lock's owner is written
 * to `<lock>.<pid>-<hex>` and linked into place, so a process killed between the write and the
 * removal of that name leaves it behind. Through `intermezzo-sync`, as a user meets them: the next
 * run's locks (the replica's run lock `lock`, the holder's `write.lock`) sweep those of processes
 * gone, and never a live writer's — one whose pid runs here, or one only a moment old whose pid means
 * nothing here (a writer in another pid namespace, or on another host sharing the file set).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { syncJson } from "../helpers/cli.js";
import { put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-lock-left-");
after(() => scratch.cleanup());

/** A pid that ran and exited (not running now). */
const gone = (): number => spawnSync(process.execPath, ["-e", "0"]).pid!;

/** Writes private file `name` under `root/.intermezzo/`, `ageMs` old. */
function leave(root: string, name: string, ageMs: number): string {
  const file = path.join(root, ".intermezzo", name);
  fs.writeFileSync(file, JSON.stringify({ pid: 0, host: "elsewhere" }));
  const t = new Date(Date.now() - ageMs);
  fs.utimesSync(file, t, t);
  return file;
}

describe("private lock files left behind", () => {
  it("the next sync sweeps those of processes gone, on both sides, and keeps live writers'", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(replica, "f", "one");
    const first = await syncJson([replica, holder]);
    assert.equal(first.code, 0, first.stderr);
    const dead = gone();
    const litter = [leave(replica, `lock.${dead}-0123abcd`, 60_000), leave(holder, `write.lock.${dead}-4567cdef`, 60_000)];
    const live = [
      leave(replica, `lock.${process.pid}-89abcdef`, 60_000), // a writer running here
      leave(holder, `write.lock.${process.pid}-0a1b2c3d`, 60_000),
      leave(replica, `lock.${dead}-fedcba98`, 0), // a moment old: perhaps a writer elsewhere, about to link it
      leave(holder, `write.lock.${dead}-76543210`, 0),
    ];
    put(replica, "f", "two");
    const r = await syncJson([replica, holder]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(holder, "f"), "utf8"), "two");
    for (const f of litter) assert.equal(fs.existsSync(f), false, `${path.basename(f)} is swept`);
    for (const f of live) assert.equal(fs.existsSync(f), true, `${path.basename(f)} is kept`);
  });
});
