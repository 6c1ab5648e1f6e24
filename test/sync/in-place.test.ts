/**
 * Changes written in place (`sync/in-place.ts`) cannot be left half done: a failed batch puts the
 * old bytes back at once, and an undo file left by a killed process is rolled back at the next start
 * unless its change was committed (then only the undo file goes). Real processes, really killed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, it } from "node:test";
import { scan } from "../../src/filter/scanner.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { Holding } from "../../src/sync/holding.js";
import { InPlace, recoverInPlace } from "../../src/sync/in-place.js";
import { leftoverTemps, randomBytes, tempDir } from "../helpers/tree.js";

const CHILD = fileURLToPath(new URL("./in-place-child.ts", import.meta.url));
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A holder file set with one scanned file `f` of `data`. */
async function fileSetWith(data: Buffer): Promise<{ root: string; file: string; mtimeNs: bigint }> {
  const root = tempDir("imz-inplace-");
  dirs.push(root);
  const file = path.join(root, "f");
  fs.writeFileSync(file, data);
  const set = FileSet.init(root, { role: "holder" });
  try {
    await scan(set);
  } finally {
    set.close();
  }
  return { root, file, mtimeNs: fs.statSync(file, { bigint: true }).mtimeNs };
}

function killedChild(root: string, at: number, data: Buffer, mode: "kill" | "commit"): void {
  const r = spawnSync(process.execPath, ["--import", "tsx", CHILD, root, "f", String(at), data.toString("hex"), mode], { encoding: "utf8" });
  assert.equal(r.signal, "SIGKILL", r.stderr);
}

describe("in-place changes", () => {
  it("a failed batch rolls its in-place changes back at once (bytes, size, mtime)", async () => {
    const old = randomBytes(1 << 20, 1);
    const { root, file, mtimeNs } = await fileSetWith(old);
    const set = FileSet.open(root);
    try {
      const holding = new Holding(set);
      const o = set.fsdb.child(ROOT_FID, "f")!;
      const temp = holding.tempPath();
      fs.writeFileSync(temp, randomBytes(8192, 2));
      const inPlace = new InPlace(holding);
      inPlace.patch(o, { temp, baseHash: o.hash, ranges: [[1000, 4096], [old.length, 4096]], size: old.length + 4096, hash: "00" }, () => undefined);
      fs.rmSync(temp);
      assert.equal(fs.statSync(file).size, old.length + 4096);
      inPlace.rollBack();
      assert.ok(fs.readFileSync(file).equals(old));
      assert.equal(fs.statSync(file, { bigint: true }).mtimeNs, mtimeNs);
      assert.deepEqual(leftoverTemps(root), []);
    } finally {
      set.close();
    }
  });

  it("a version cut short rolls back whole: the undo file keeps the bytes past its end", async () => {
    const old = randomBytes(1 << 20, 9);
    const { root, file, mtimeNs } = await fileSetWith(old);
    const set = FileSet.open(root);
    try {
      const holding = new Holding(set);
      const o = set.fsdb.child(ROOT_FID, "f")!;
      const temp = holding.tempPath();
      fs.writeFileSync(temp, randomBytes(4096, 10));
      const inPlace = new InPlace(holding);
      inPlace.patch(o, { temp, baseHash: o.hash, ranges: [[1000, 4096]], size: 300_000, hash: "00" }, () => undefined);
      fs.rmSync(temp);
      assert.equal(fs.statSync(file).size, 300_000);
      inPlace.rollBack();
      assert.ok(fs.readFileSync(file).equals(old), "the cut tail is back, not zeros");
      assert.equal(fs.statSync(file, { bigint: true }).mtimeNs, mtimeNs);
    } finally {
      set.close();
    }
  });

  it("refuses a change made for another version of the file (its base hash), changing nothing", async () => {
    const old = randomBytes(1 << 20, 11);
    const { root, file } = await fileSetWith(old);
    const set = FileSet.open(root);
    try {
      const holding = new Holding(set);
      const o = set.fsdb.child(ROOT_FID, "f")!;
      const temp = holding.tempPath();
      fs.writeFileSync(temp, randomBytes(4096, 12));
      assert.throws(() => new InPlace(holding).patch(o, { temp, baseHash: "ab", ranges: [[0, 4096]], size: old.length, hash: "00" }, () => undefined), { code: "IO" });
      fs.rmSync(temp);
      assert.ok(fs.readFileSync(file).equals(old));
      assert.deepEqual(leftoverTemps(root), []);
    } finally {
      set.close();
    }
  });

  it("killed before its commit: the next start puts the old bytes back", async () => {
    const old = randomBytes(1 << 20, 3);
    const { root, file, mtimeNs } = await fileSetWith(old);
    killedChild(root, 70_000, randomBytes(5000, 4), "kill");
    assert.ok(!fs.readFileSync(file).equals(old), "the child changed the file");
    const set = FileSet.open(root);
    try {
      set.cleanTemp(); // as every start does first: the undo file stays for its recovery
      assert.equal(recoverInPlace(set), 1);
      assert.ok(fs.readFileSync(file).equals(old));
      assert.equal(fs.statSync(file, { bigint: true }).mtimeNs, mtimeNs);
      assert.deepEqual(leftoverTemps(root), []);
      assert.equal((await scan(set)).records, 0, "a scan finds the recorded version");
    } finally {
      set.close();
    }
  });

  it("killed while its undo file was written: the cut undo file goes and the file is left as it is (bytes, mtime)", async () => {
    const old = randomBytes(1 << 20, 7);
    const { root, file, mtimeNs } = await fileSetWith(old);
    killedChild(root, 70_000, randomBytes(50_000, 8), "kill");
    const tmp = path.join(root, ".intermezzo", "tmp");
    const [name] = fs.readdirSync(tmp).filter((n) => n.startsWith("undo-"));
    const whole = fs.readFileSync(path.join(tmp, name!));
    const set = FileSet.open(root);
    try {
      set.cleanTemp();
      assert.equal(recoverInPlace(set), 1);
      assert.ok(fs.readFileSync(file).equals(old));
      // as a kill leaves it before the file is touched: the header and part of the old bytes
      fs.writeFileSync(path.join(tmp, name!), whole.subarray(0, whole.length - 20_000));
      assert.equal(recoverInPlace(set), 0);
      assert.ok(fs.readFileSync(file).equals(old));
      assert.equal(fs.statSync(file, { bigint: true }).mtimeNs, mtimeNs, "nothing was written to the file");
      assert.deepEqual(leftoverTemps(root), []);
    } finally {
      set.close();
    }
  });

  it("killed after its commit: the new bytes stay, the undo file goes", async () => {
    const old = randomBytes(1 << 20, 5);
    const { root, file } = await fileSetWith(old);
    const data = randomBytes(5000, 6);
    killedChild(root, old.length - 1000, data, "commit");
    const set = FileSet.open(root);
    try {
      set.cleanTemp();
      assert.equal(recoverInPlace(set), 0);
      assert.ok(fs.readFileSync(file).equals(Buffer.concat([old.subarray(0, old.length - 1000), data])));
      assert.deepEqual(leftoverTemps(root), []);
    } finally {
      set.close();
    }
  });
});
