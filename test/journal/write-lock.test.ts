/**
 * The holder's write lock across processes (`src/journal/write-lock.ts`). Found by the crash test on
 * a fresh clone: a sync SIGKILLed between creating the lock file and writing its owner left it
 * empty, and the next sync waited on it for good (no owner to find dead, no time limit). The lock
 * file is now linked into place with its content, and one with no readable owner is taken for stale
 * once it is a moment old.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { acquireWriteLock, WRITE_LOCK } from "../../src/journal/write-lock.js";
import { scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-write-lock-");
after(() => scratch.cleanup());

/** `p`, or a failure once `ms` pass (a hang is the defect this file is about). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

describe("the write lock", () => {
  it("takes over an empty lock file left by a writer killed between creating and writing it", async () => {
    const root = scratch.dir();
    fs.mkdirSync(path.join(root, ".intermezzo"));
    const file = path.join(root, ".intermezzo", WRITE_LOCK);
    fs.writeFileSync(file, "");
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    const release = await within(acquireWriteLock({ root }), 30_000, "the lock");
    assert.equal(JSON.parse(fs.readFileSync(file, "utf8")).pid, process.pid);
    release();
    assert.equal(fs.existsSync(file), false);
  });

  it("waits for a fresh lock file with no owner yet, then takes it once stale", async () => {
    const root = scratch.dir();
    fs.mkdirSync(path.join(root, ".intermezzo"));
    const file = path.join(root, ".intermezzo", WRITE_LOCK);
    fs.writeFileSync(file, "");
    let taken = false;
    const pending = acquireWriteLock({ root }).then((r) => ((taken = true), r));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(taken, false, "a lock file a moment old may be one being written");
    (await within(pending, 30_000, "the lock"))();
  });

  it("sweeps the private files of writers killed between writing one and linking it, and only theirs", async () => {
    const root = scratch.dir();
    fs.mkdirSync(path.join(root, ".intermezzo"));
    const file = path.join(root, ".intermezzo", WRITE_LOCK);
    const gone = spawnSync(process.execPath, ["-e", "0"]).pid!; // a pid that ran and exited
    const litter = `${file}.${gone}-0123abcd`;
    const alive = `${file}.${process.ppid}-89abcdef`; // a live writer's, about to be linked
    const old = new Date(Date.now() - 60_000); // a private file a moment old may be a writer's elsewhere (lock-file.ts)
    for (const f of [litter, alive]) {
      fs.writeFileSync(f, "{}");
      fs.utimesSync(f, old, old);
    }
    (await within(acquireWriteLock({ root }), 30_000, "the lock"))();
    assert.equal(fs.existsSync(litter), false);
    assert.equal(fs.existsSync(alive), true);
  });
});
