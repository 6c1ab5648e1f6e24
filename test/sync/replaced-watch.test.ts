/**
 * A local edit made between the applier's check and the rename that installs the holder's version
 * (found by the churn test: a writer's version vanished with the replaced inode on a loaded
 * machine). The race is forced here by a holding whose install first edits the file, as that writer
 * did; the edit must be kept in the conflict store, logged and reported — and without an edit in
 * between, nothing is stored.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { readConflicts } from "../../src/conflict/store.js";
import { scan } from "../../src/filter/scanner.js";
import { hashBuffer } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID, type JournalRecord } from "../../src/journal/records.js";
import { Applier } from "../../src/sync/apply.js";
import type { StagedContent } from "../../src/sync/content-stream.js";
import { scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-replaced-watch-");
after(() => scratch.cleanup());

/** Applies the holder's version `next` of f.txt; `between` runs right before the install's rename. */
async function install(root: string, next: string, between: () => void): Promise<{ set: FileSet; warnings: string[] }> {
  const set = FileSet.init(root, { role: "replica" });
  await scan(set);
  const f = set.fsdb.child(ROOT_FID, "f.txt")!;
  const applier = new Applier(set, { owner: false });
  const real = applier.holding.install.bind(applier.holding);
  applier.holding.install = (...args: Parameters<typeof real>) => {
    between();
    return real(...args);
  };
  const temp = applier.holding.tempPath();
  fs.writeFileSync(temp, next);
  const staged: StagedContent = { temp, content: { size: next.length, mtimeNs: "1000000000", hash: hashBuffer(Buffer.from(next)) }, ticket: applier.holding.stagedTicket(temp) };
  const close: JournalRecord = { op: "close", fid: f.fid, base: f.version, content: staged.content, seq: 1, origin: "holder", originSeq: 1, time: Date.now() };
  const commit = await applier.apply(close, staged);
  set.transaction(() => commit("holder:1"));
  await applier.finishBatch();
  return { set, warnings: applier.takeWarnings().map((w) => `${w.path}: ${w.message}`) };
}

describe("an edit racing the install of the holder's version", () => {
  it("is kept in the conflict store, logged and reported", async () => {
    const root = scratch.dir();
    fs.writeFileSync(path.join(root, "f.txt"), "old");
    const { set, warnings } = await install(root, "the holder's", () => fs.writeFileSync(path.join(root, "f.txt"), "the local edit, made in between"));
    try {
      assert.equal(fs.readFileSync(path.join(root, "f.txt"), "utf8"), "the holder's");
      assert.equal(warnings.length, 1, warnings.join("\n"));
      const [entry] = readConflicts(set);
      assert.equal(entry?.kind, "update/update");
      assert.equal(fs.readFileSync(path.join(root, entry!.stored!), "utf8"), "the local edit, made in between");
    } finally {
      set.close();
    }
  });

  it("without an edit in between, stores and reports nothing", async () => {
    const root = scratch.dir();
    fs.writeFileSync(path.join(root, "f.txt"), "old");
    const { set, warnings } = await install(root, "the holder's", () => undefined);
    try {
      assert.deepEqual(warnings, []);
      assert.deepEqual(readConflicts(set), []);
      assert.equal(fs.readFileSync(path.join(root, "f.txt"), "utf8"), "the holder's");
    } finally {
      set.close();
    }
  });
});

/**
 * Applies the holder's rename of f.txt over g.txt; `before` runs before the applier looks at g.txt,
 * `between` after its check, right before the rename (a writer's edit racing it).
 */
async function renameOver(root: string, before: () => void, between: () => void): Promise<{ set: FileSet; warnings: string[]; error?: unknown }> {
  const set = FileSet.init(root, { role: "replica" });
  await scan(set);
  const f = set.fsdb.child(ROOT_FID, "f.txt")!;
  const g = set.fsdb.child(ROOT_FID, "g.txt")!;
  const applier = new Applier(set, { owner: false });
  const keep = (applier as unknown as { keep: (o: unknown) => void }).keep.bind(applier);
  (applier as unknown as { keep: (o: unknown) => void }).keep = (o) => {
    between();
    keep(o);
  };
  before();
  const rename: JournalRecord = { op: "rename", fid: f.fid, parent: ROOT_FID, name: "f.txt", newParent: ROOT_FID, newName: "g.txt", base: f.version, replaced: g.fid, replacedBase: g.version, seq: 1, origin: "holder", originSeq: 1, time: Date.now() };
  try {
    const commit = await applier.apply(rename, undefined);
    set.transaction(() => commit("holder:1"));
    await applier.finishBatch();
  } catch (error) {
    return { set, warnings: [], error };
  }
  return { set, warnings: applier.takeWarnings().map((w) => `${w.path}: ${w.message}`) };
}

describe("the holder's rename over a file of this host", () => {
  const tree = (): string => {
    const root = scratch.dir();
    fs.writeFileSync(path.join(root, "f.txt"), "moved");
    fs.writeFileSync(path.join(root, "g.txt"), "replaced");
    return root;
  };

  it("leaves both as they are (IO) when the file replaced was edited since its scan", async () => {
    const root = tree();
    const { set, error } = await renameOver(root, () => fs.writeFileSync(path.join(root, "g.txt"), "an unscanned local edit"), () => undefined);
    try {
      assert.equal((error as { code?: string } | undefined)?.code, "IO");
      assert.equal(fs.readFileSync(path.join(root, "g.txt"), "utf8"), "an unscanned local edit");
      assert.equal(fs.readFileSync(path.join(root, "f.txt"), "utf8"), "moved");
    } finally {
      set.close();
    }
  });

  it("keeps, logs and reports an edit made between its check and the rename", async () => {
    const root = tree();
    const edit = "the local edit, made in between";
    const { set, warnings, error } = await renameOver(root, () => undefined, () => fs.writeFileSync(path.join(root, "g.txt"), edit));
    try {
      assert.equal(error, undefined);
      assert.equal(fs.readFileSync(path.join(root, "g.txt"), "utf8"), "moved");
      assert.equal(warnings.length, 1, warnings.join("\n"));
      const kept = readConflicts(set).filter((e) => e.stored && fs.readFileSync(path.join(root, e.stored), "utf8") === edit);
      assert.equal(kept.length, 1, JSON.stringify(readConflicts(set)));
    } finally {
      set.close();
    }
  });
});
