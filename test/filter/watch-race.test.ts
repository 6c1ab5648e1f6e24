/**
 * The watcher's start-up and growth races, constructed rather than raced for: a directory is made at
 * the very moment a watch is about to be placed (a hook in `fs.watch`, which the watch calls for every
 * directory). A watch that reads a directory before watching it never learns of such a directory, and
 * nothing written into it is ever journaled; one that reads after watching finds it. Also a directory
 * whose creation event an overflowed inotify queue lost (the event loop held while a burst of changes
 * fills the queue): the settle scan journals it, and must watch it too.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import path from "node:path";
import { it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { watchFileSet, type FileSetWatcher } from "../../src/filter/watcher.js";
import { FileSet } from "../../src/journal/fileset.js";
import { tempDir } from "../helpers/tree.js";

/** Runs `before()` once for each of `dirs`, just before `fs.watch` watches it; returns the undo. */
function beforeWatchOf(dirs: string | string[], before: () => void): () => void {
  const real = fs.watch;
  const left = new Set([dirs].flat());
  fs.watch = ((p: fs.PathLike, ...rest: unknown[]) => {
    if (left.delete(path.resolve(String(p)))) before();
    return (real as (...a: unknown[]) => fs.FSWatcher)(p, ...rest);
  }) as typeof fs.watch;
  syncBuiltinESMExports(); // for modules that imported `watch` by name
  return () => {
    fs.watch = real;
    syncBuiltinESMExports();
  };
}

/** Polls until `pred` holds (events arrive asynchronously). */
async function until(pred: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 10_000; !pred(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The Fsdb object at relative path `rel`, if known. */
function known(set: FileSet, rel: string): boolean {
  let fid: string | undefined = "root";
  for (const name of rel.split("/")) fid = fid === undefined ? undefined : set.fsdb.childFid(fid, name);
  return fid !== undefined;
}

/**
 * Writes `rel` and then a sentinel in a directory watched all along; once the sentinel is journaled,
 * `rel`'s event (read from the same inotify queue, earlier) has been too, if there was one. (Not in
 * `rel`'s parent: an event there would make a watch that reads on events re-read it and heal.)
 */
async function writeAndSettle(set: FileSet, w: FileSetWatcher, rel: string, sentinel: string): Promise<void> {
  fs.writeFileSync(path.join(set.root, rel), "x");
  fs.writeFileSync(path.join(set.root, sentinel), "s");
  await until(() => known(set, sentinel), `the sentinel ${sentinel}`);
  await w.idle();
}

it("a directory made in a directory just before the start-up watches it is watched: a file written into it later is journaled", async () => {
  const root = tempDir("imz-watch-race-");
  fs.mkdirSync(path.join(root, "a"));
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  const undo = beforeWatchOf(path.join(root, "a"), () => fs.mkdirSync(path.join(root, "a/late")));
  let w: FileSetWatcher | undefined;
  try {
    w = await watchFileSet(set, { debounceMs: 10, settleMs: 0 });
    undo();
    assert.ok(fs.existsSync(path.join(root, "a/late")), "the hook ran while the watch started");
    await writeAndSettle(set, w, "a/late/f", "sentinel");
    assert.ok(known(set, "a/late/f"), "the file written into the directory made during start-up is journaled");
  } finally {
    undo();
    await w?.close();
    set.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

it("a directory made in a new directory just before its watch is placed is watched: a file written into it later is journaled", async () => {
  const root = tempDir("imz-watch-race-");
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  const w = await watchFileSet(set, { debounceMs: 10, settleMs: 0 });
  const undo = beforeWatchOf(path.join(root, "b"), () => fs.mkdirSync(path.join(root, "b/inner")));
  try {
    fs.mkdirSync(path.join(root, "b"));
    await until(() => known(set, "b/inner"), "b/inner journaled");
    await w.idle();
    undo();
    await writeAndSettle(set, w, "b/inner/f", "sentinel");
    assert.ok(known(set, "b/inner/f"), "the file written into the directory made as its parent was watched is journaled");
  } finally {
    undo();
    await w.close();
    set.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

it("a watched directory moved away and another made under its name at once: both are watched", async () => {
  const root = tempDir("imz-watch-race-");
  // empty: a scan naming both the new `a` and `moved` in one batch compares the new `a` with the old
  // one's rows, so the old one's entries would look deleted (a scanner limit, not the watch's)
  fs.mkdirSync(path.join(root, "a"));
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  const w = await watchFileSet(set, { debounceMs: 10, settleMs: 0 });
  try {
    // both before the watch handles the events: `a`'s event finds another inode under the watched name
    fs.renameSync(path.join(root, "a"), path.join(root, "moved"));
    fs.mkdirSync(path.join(root, "a"));
    await until(() => known(set, "moved") && known(set, "a"), "the move and the new directory");
    await w.idle();
    fs.writeFileSync(path.join(root, "moved/g"), "g");
    await writeAndSettle(set, w, "a/f", "sentinel");
    assert.ok(known(set, "a/f"), "the new directory under the old name is watched");
    assert.ok(known(set, "moved/g"), "the moved directory is watched at its new name");
  } finally {
    await w.close();
    set.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

it("the inotify watch limit is reported once, as a coded error with a hint, and the tree is still journaled by whole scans", async () => {
  const root = tempDir("imz-watch-race-");
  for (const d of ["a", "b", "c"]) fs.mkdirSync(path.join(root, d));
  fs.writeFileSync(path.join(root, "a/f"), "f");
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  const limit = (): never => {
    throw Object.assign(new Error("ENOSPC: System limit for number of file watchers reached"), { code: "ENOSPC", syscall: "watch" });
  };
  const undo = beforeWatchOf([path.join(root, "a"), path.join(root, "b")], limit);
  const errors: unknown[] = [];
  let w: FileSetWatcher | undefined;
  try {
    w = await watchFileSet(set, { debounceMs: 10, settleMs: 0, onError: (e) => errors.push(e) });
    undo();
    assert.equal(errors.length, 1, "two directories refused, one report");
    const err = errors[0];
    assert.ok(isImzError(err, "IO") && /max_user_watches/.test(err.message) && /sysctl/.test(err.hint ?? ""), String(err));
    assert.ok(known(set, "a/f"), "the start-up scan journaled the unwatched directory's file");
  } finally {
    undo();
    await w?.close();
    set.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});

/** The kernel's inotify queue length (events past it are dropped, with one overflow notice libuv ignores). */
const QUEUED = Number(fs.readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8"));

it("a directory whose creation event an overflowed inotify queue lost is watched after the settle scan: a file written into it later is journaled", { skip: QUEUED > 65536 && `max_queued_events is ${QUEUED}: too many files to overflow it` }, async () => {
  const root = tempDir("imz-watch-race-");
  fs.mkdirSync(path.join(root, "busy"));
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  const w = await watchFileSet(set, { debounceMs: 10, settleMs: 200 });
  try {
    // the event loop held: each new file is two events (create, modify), so the queue overflows and
    // the directory made last raises none
    for (let i = 0; i < QUEUED / 2 + 500; i++) fs.writeFileSync(path.join(root, "busy", `f${i}`), "x");
    fs.mkdirSync(path.join(root, "late"));
    await until(() => known(set, "late"), "the settle scan to journal the directory");
    await w.idle();
    await writeAndSettle(set, w, "late/f", "sentinel");
    assert.ok(known(set, "late/f"), "the file written into the directory whose event was lost is journaled");
  } finally {
    await w.close();
    set.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
