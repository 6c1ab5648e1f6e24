/**
 * Removing a directory the holder removed (an update applied, or a conflict's winner restored) while
 * the replica's Fsdb still has entries below it — moved away on disk, not journaled yet, so the
 * kernel finds the directory empty — must not orphan their rows: found by the churn test, where the
 * orphan (its path shown as `<fid>/name`) brought back the same conflict on every exchange.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { scan } from "../../src/filter/scanner.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID, type JournalRecord } from "../../src/journal/records.js";
import { Applier } from "../../src/sync/apply.js";
import { isImzError } from "../../src/errors.js";
import { scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-apply-rmdir-");
after(() => scratch.cleanup());

describe("applying rmdir", () => {
  it("refuses while the Fsdb has entries below the directory, though the directory is empty on disk", async () => {
    const root = scratch.dir();
    fs.mkdirSync(path.join(root, "d"));
    fs.writeFileSync(path.join(root, "d", "f.txt"), "kept");
    const set = FileSet.init(root, { role: "replica" });
    try {
      await scan(set);
      const d = set.fsdb.child(ROOT_FID, "d")!;
      const f = set.fsdb.child(d.fid, "f.txt")!;
      fs.renameSync(path.join(root, "d", "f.txt"), path.join(root, "f.txt")); // not journaled yet
      const rmdir: JournalRecord = { op: "rmdir", fid: d.fid, parent: ROOT_FID, name: "d", base: d.version, seq: 1, origin: "holder", originSeq: 1, time: Date.now() };
      await assert.rejects(new Applier(set, { owner: false }).apply(rmdir), (err) => isImzError(err, "IO"));
      assert.equal(set.fsdb.pathOf(f.fid), "d/f.txt", "the entry keeps its directory until a scan journals where it went");
      assert.ok(fs.existsSync(path.join(root, "d")));
    } finally {
      set.close();
    }
  });
});
