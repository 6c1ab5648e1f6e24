/**
 * What a batch of a few files flushes by name (`src/sync/flush-list.ts`): the temp files not yet
 * installed, each installed file and each directory once; and when the next flush must be a `syncfs`
 * instead — a change without a target, too many objects, one that cannot be opened, a conflict copy
 * written aside. (`test/sync/batch-durable.test.ts` watches the order on the real CLI.)
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { logConflict, newEntryId } from "../../src/conflict/store.js";
import { FileSet } from "../../src/journal/fileset.js";
import { FlushList, flushTargets, releaseTargets } from "../../src/sync/flush-list.js";
import { tempDir } from "../helpers/tree.js";

/** A directory with files `t0..t{n-1}`; returns their paths and an opener of any path. */
function files(n: number): { dir: string; paths: string[]; open: (p: string) => () => number } {
  const dir = tempDir("imz-flush-");
  const paths = Array.from({ length: n }, (_, i) => path.join(dir, `t${i}`));
  for (const p of paths) fs.writeFileSync(p, "x");
  return { dir, paths, open: (p) => () => fs.openSync(p, "r") };
}

describe("flush list", () => {
  it("names the temp files not installed, each installed file, and each directory once", async () => {
    const { dir, paths, open } = files(4);
    try {
      const list = new FlushList();
      for (const p of paths) list.staged(p);
      list.installing(paths[0]!, open(paths[0]!), "d", open(dir));
      list.installing(paths[1]!, open(paths[1]!), "d", open(dir));
      list.changed("d/f", open(paths[2]!));
      const targets = list.take()!;
      assert.deepEqual(targets.temps.sort(), [paths[2]!, paths[3]!]);
      assert.equal(targets.fds.length, 4, "two installed files, the directory once, the changed object");
      await flushTargets(targets);
      for (const fd of targets.fds) assert.throws(() => fs.fstatSync(fd), /EBADF/, "closed after the flush");
      assert.deepEqual(list.take(), { temps: [], fds: [] }, "the list starts empty again");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a temp file removed before the flush needs nothing", async () => {
    const { dir, paths } = files(1);
    try {
      const list = new FlushList();
      list.staged(paths[0]!);
      fs.rmSync(paths[0]!);
      await flushTargets(list.take()!);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a change without a target, too many objects, or one that cannot be opened makes the next flush a syncfs (undefined), once", () => {
    const { dir, paths, open } = files(60);
    try {
      const list = new FlushList();
      list.installing(paths[0]!, open(paths[0]!), "d", open(dir));
      list.untargeted();
      list.staged(paths[1]!);
      assert.equal(list.take(), undefined);
      assert.deepEqual(list.take(), { temps: [], fds: [] }, "the syncfs covered it: targets again");

      for (const p of paths) list.staged(p);
      assert.equal(list.take(), undefined, "60 temp files: one syncfs is cheaper");

      list.changed("gone", () => fs.openSync(path.join(dir, "gone"), "r"));
      assert.equal(list.take(), undefined, "an object that cannot be opened");
      const targets = { temps: [], fds: [fs.openSync(paths[0]!, "r")] };
      releaseTargets(targets);
      assert.throws(() => fs.fstatSync(targets.fds[0]!), /EBADF/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a file set that wrote its conflict log is noted until its next flush", () => {
    const root = tempDir("imz-flush-aside-");
    const set = FileSet.init(root, { role: "holder" });
    try {
      assert.equal(set.tookAside(), false);
      logConflict(set, { id: newEntryId(), time: new Date().toISOString(), path: "a", kind: "kept", status: "auto", detail: "test" });
      assert.equal(set.tookAside(), true);
      assert.equal(set.tookAside(), false);
    } finally {
      set.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
