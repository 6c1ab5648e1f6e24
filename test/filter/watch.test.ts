/** The watcher filter: observed changes are journaled by the scanner, renames recognised by inode. */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { it } from "node:test";
import { scan } from "../../src/filter/scanner.js";
import { watchFileSet, type FileSetWatcher, type WatchOptions } from "../../src/filter/watcher.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID, type RecordOp } from "../../src/journal/records.js";
import { tempDir } from "../helpers/tree.js";

/** Polls until `pred` holds (events arrive asynchronously). */
async function until(pred: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 10_000; !pred(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Watches `set` with `opts` while `fn` runs, then stops the watch, closes the set and removes its tree. */
async function watching(set: FileSet, opts: WatchOptions, fn: (w: FileSetWatcher) => Promise<void>): Promise<void> {
  const w = await watchFileSet(set, opts);
  try {
    await fn(w);
  } finally {
    await w.close();
    set.close();
    fs.rmSync(set.root, { recursive: true, force: true });
  }
}

it("journals observed creates, writes, renames and deletes as the filter would", async () => {
  const root = tempDir("imz-watch-");
  fs.mkdirSync(path.join(root, "dir"));
  fs.writeFileSync(path.join(root, "dir/file"), "one");
  fs.mkdirSync(path.join(root, "keep"));
  for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(root, `keep/${i}`), String(i)); // so the delete below is no mass delete
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  const ops = (): RecordOp[] => set.cml.all().map((r) => r.op).filter((op) => op !== "setattr");
  const errors: unknown[] = [];
  await watching(set, { debounceMs: 50, onError: (e) => errors.push(e) }, async (w) => {
    assert.equal(ops().length, 13, "the first scan catches up");
    set.db.exec("DELETE FROM cml");
    fs.renameSync(path.join(root, "dir"), path.join(root, "moved"));
    fs.writeFileSync(path.join(root, "moved/file"), "two, longer");
    await until(() => ops().includes("close"), "the close");
    await w.idle();
    assert.deepEqual(ops().sort(), ["close", "rename"], "the directory rename is one record, recognised by inode");
    fs.rmSync(path.join(root, "moved"), { recursive: true });
    await until(() => ops().includes("rmdir"), "the rmdir");
    await w.idle();
    assert.deepEqual(ops().slice(2), ["unlink", "rmdir"]);
    assert.equal((await scan(set)).records, 0, "nothing left for a scan");
    assert.deepEqual(errors, []);
  });
});

it("journals what the events named, not the whole tree: one change in a big tree examines its directory only", async () => {
  const root = tempDir("imz-watch-");
  for (let d = 0; d < 20; d++) {
    fs.mkdirSync(path.join(root, `d${d}`));
    for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(root, `d${d}/f${f}`), `${d}/${f}`);
  }
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  const scans: Array<{ records: number; examined: number }> = [];
  await watching(set, { onScan: (r) => scans.push(r) }, async (w) => {
    assert.ok(scans[0]!.examined >= 2020, "the first scan walks the whole tree");
    set.db.exec("DELETE FROM cml");
    fs.writeFileSync(path.join(root, "d7/f3"), "changed");
    fs.mkdirSync(path.join(root, "d7/new"));
    fs.writeFileSync(path.join(root, "d7/new/inside"), "x");
    await until(() => set.cml.all().some((r) => r.op === "create"), "the create");
    await w.idle();
    const after = scans.slice(1);
    const examined = after.reduce((n, r) => n + r.examined, 0);
    assert.ok(examined <= 2 * 102, `only d7 and what is new in it were examined (${examined} objects)`);
    assert.deepEqual(set.cml.all().map((r) => r.op).filter((op) => op !== "setattr").sort(), ["close", "create", "mkdir"]);
    assert.equal((await scan(set)).records, 0, "nothing left for a whole scan");
  });
});

it("journals a directory's chmod from the event in its parent, without waiting for a settle scan", async () => {
  const root = tempDir("imz-watch-");
  fs.mkdirSync(path.join(root, "dir"), { mode: 0o755 });
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  await watching(set, { settleMs: 0 }, async (w) => {
    set.db.exec("DELETE FROM cml");
    fs.chmodSync(path.join(root, "dir"), 0o700);
    await until(() => set.cml.all().some((r) => r.op === "setattr" && r.attrs.mode === 0o700), "the chmod");
    await w.idle();
    assert.equal((await scan(set)).records, 0, "nothing left for a whole scan");
  });
});

it("scans the whole tree once it goes quiet after changes: an edit through a hard link outside the tree, which no event names, is journaled", async () => {
  const root = tempDir("imz-watch-");
  const outside = tempDir("imz-watch-outside-");
  fs.mkdirSync(path.join(root, "dir"));
  fs.writeFileSync(path.join(root, "dir/file"), "one");
  fs.linkSync(path.join(root, "dir/file"), path.join(outside, "link"));
  fs.mkdirSync(path.join(root, "busy"));
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  let fid = "";
  const edited = (): boolean => set.cml.all().some((r) => r.op === "close" && r.fid === fid);
  /** After each scan since the changes: whether the create and the edit were journaled. */
  const after: Array<{ create: boolean; edit: boolean }> = [];
  try {
    await watching(set, { settleMs: 300, onScan: () => fid && after.push({ create: set.cml.all().some((r) => r.op === "create"), edit: edited() }) }, async (w) => {
      set.db.exec("DELETE FROM cml");
      fid = set.fsdb.child(set.fsdb.childFid("root", "dir")!, "file")!.fid;
      // inotify reports a write in the directory the file was opened through: here, none watched
      fs.writeFileSync(path.join(outside, "link"), "two, longer");
      fs.writeFileSync(path.join(root, "busy/other"), "a change the events do name");
      await until(edited, "the edit, from the settle scan");
      assert.deepEqual(after[0], { create: true, edit: false }, "the named scan journaled the create, not the edit");
      await w.idle();
      assert.equal((await scan(set)).records, 0, "nothing left for a whole scan");
    });
  } finally {
    fs.rmSync(outside, { recursive: true, force: true });
  }
});

it("a directory moved away and a new one made at its name (mv a moved; mkdir a) is a rename and a mkdir: the moved one keeps its entries", async () => {
  const root = tempDir("imz-watch-");
  fs.mkdirSync(path.join(root, "a"));
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(root, `a/f${i}`), String(i));
  for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(root, `k${i}`), String(i)); // so no removal is a mass delete
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  const ops = (): RecordOp[] => set.cml.all().map((r) => r.op).filter((op) => op !== "setattr");
  const errors: unknown[] = [];
  await watching(set, { debounceMs: 50, onError: (e) => errors.push(e) }, async (w) => {
    const moved = set.fsdb.child(ROOT_FID, "a")!.fid;
    set.db.exec("DELETE FROM cml");
    fs.renameSync(path.join(root, "a"), path.join(root, "moved"));
    fs.mkdirSync(path.join(root, "a"));
    await until(() => ops().includes("mkdir"), "the mkdir");
    await w.idle();
    assert.deepEqual(ops().sort(), ["mkdir", "rename"]);
    assert.equal(set.fsdb.pathOf(moved), "moved", "the moved directory keeps its identity");
    assert.deepEqual(["f0", "f1", "f2"].map((n) => set.fsdb.child(moved, n)?.name), ["f0", "f1", "f2"]);
    assert.equal((await scan(set)).records, 0, "nothing left for a scan");
    assert.deepEqual(errors, []);
  });
});
