/**
 * A content hash is journaled only with the stat it describes (`hashFileAsStated`): a file written
 * between the walk's stat and the hash — within one timestamp tick only its size tells — is left to
 * the next scan instead of being journaled with another content's hash than its size says (churn
 * seed 1262634425: a row of size 0 with the hash of 350 bytes, and every later unlink or restore of
 * the file refused as "changed on this host since it was last scanned"). A row left that way by
 * an older scan is healed: its content unchanged, it takes the file's size.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { scan } from "../../src/filter/scanner.js";
import { hashFile, hashFileAsStated } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { isImzError } from "../../src/errors.js";
import { tempDir } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("hashes checked against their stat", () => {
  it("hashes a file its stat still describes, and refuses one written since, even at the same mtime", async () => {
    const dir = tempDir("imz-has-");
    dirs.push(dir);
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "");
    const empty = fs.lstatSync(file, { bigint: true });
    assert.equal(await hashFileAsStated(file, empty), await hashFile(file));
    fs.writeFileSync(file, "x".repeat(350));
    fs.utimesSync(file, new Date(Number(empty.mtimeMs)), new Date(Number(empty.mtimeMs))); // as within one tick
    await assert.rejects(hashFileAsStated(file, { size: empty.size, mtimeNs: fs.lstatSync(file, { bigint: true }).mtimeNs }), (e) => isImzError(e, "IO") && /changed while it was being hashed/.test(e.message));
    const big = path.join(dir, "big");
    fs.writeFileSync(big, Buffer.alloc(200_000, 1));
    const st = fs.lstatSync(big, { bigint: true });
    fs.appendFileSync(big, "more");
    await assert.rejects(hashFileAsStated(big, st), (e) => isImzError(e, "IO"));
  });

  it("a row whose size is not its content's takes the file's size at the next scan, with nothing journaled", async () => {
    const root = tempDir("imz-has-set-");
    dirs.push(root);
    fs.writeFileSync(path.join(root, "f"), "x".repeat(350));
    const set = FileSet.init(root, { role: "replica", filesetId: "" });
    try {
      await scan(set);
      set.db.exec("DELETE FROM cml");
      const row = set.fsdb.child("root", "f")!;
      set.fsdb.put({ ...row, size: 0 }); // what the race left: the hash of 350 bytes, size 0
      const report = await scan(set);
      assert.equal(report.records, 0, "the content did not change: nothing to journal");
      assert.equal(set.fsdb.child("root", "f")!.size, 350);
      assert.equal((await scan(set)).records, 0);
    } finally {
      set.close();
    }
  });
});
