/**
 * Presto without FUSE: the decorator driven through its FsLayer methods, as the adapter would call
 * them. After every step the journal holds the expected records and a scan finds nothing to add.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { scan } from "../../src/filter/scanner.js";
import { Passthrough, UTIME_NOW, UTIME_OMIT } from "../../src/filter/passthrough.js";
import { Presto } from "../../src/filter/presto.js";
import { localFields } from "../../src/filter/object-stat.js";
import { hashFile } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { HAS_DATA, type FsObject } from "../../src/journal/fsdb.js";
import type { RecordOp } from "../../src/journal/records.js";
import { tempDir } from "../helpers/tree.js";

/** Batch timing for deterministic tests: no idle or age commits. */
const PINNED = { idleMs: 600_000, maxMs: 600_000 };

let root: string;
let set: FileSet;
let presto: Presto;

/** Ops journaled since the last call. */
let seen = 0;
function newOps(): RecordOp[] {
  const recs = set.cml.all().slice(seen);
  seen += recs.length;
  return recs.map((r) => r.op);
}

async function assertScanClean(): Promise<void> {
  await presto.settled();
  const check = FileSet.open(root);
  try {
    const r = await scan(check);
    assert.equal(r.records, 0, `scan found ${r.records} unjournaled change(s): ${JSON.stringify(check.cml.all().slice(seen))}`);
  } finally {
    check.close();
  }
}

async function writeFile(mp: string, data: string, create = true): Promise<void> {
  const fh = create ? await presto.create(mp, 0o644) : await presto.open(mp, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  const buf = Buffer.from(data);
  await presto.write(mp, fh, buf, buf.length, 0);
  await presto.flush(mp, fh);
  await presto.release(mp, fh);
}

beforeEach(async () => {
  root = tempDir("imz-presto-");
  fs.writeFileSync(path.join(root, "before.txt"), "there before the filter");
  set = FileSet.init(root, { role: "replica", filesetId: "" });
  // Batches commit only at durability points (close of a written file, fsync, settled), so which
  // records fold together does not depend on the machine's speed.
  presto = await Presto.attach(set, new Passthrough(set.root), { batch: PINNED });
  seen = 0;
});

afterEach(async () => {
  await presto.detach();
  set.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe("Presto", () => {
  it("journals what existed before attach with the recovery scan, then marks the set filtered", () => {
    assert.deepEqual(newOps(), ["create"]);
    assert.equal(set.isContinuouslyFiltered(), true);
  });

  it("journals a written file at close: create (its close folded in, in one batch), directory mtime, then one close", async () => {
    newOps();
    await writeFile("/a.txt", "hello");
    assert.deepEqual(newOps(), ["create", "setattr"]);
    const created = set.cml.all().find((r) => r.op === "create" && r.name === "a.txt");
    assert.ok(created?.op === "create" && created.content?.hash === (await hashFile(path.join(root, "a.txt"))), "the create carries the content");
    await assertScanClean();
    await writeFile("/a.txt", "hello again", false);
    assert.deepEqual(newOps(), ["close"]);
    await assertScanClean();
  });

  it("journals mkdir, symlink, link, rename over an existing name, unlink and rmdir", async () => {
    await presto.mkdir("/d", 0o755);
    await writeFile("/d/f", "f");
    await presto.symlink("../before.txt", "/d/s");
    await presto.link("/d/f", "/d/h");
    newOps();
    await assertScanClean();
    await writeFile("/d/g", "g");
    newOps();
    await presto.rename("/d/g", "/d/f");
    const renamed = set.cml.all().at(-2)!;
    assert.equal(renamed.op, "rename");
    assert.ok(renamed.op === "rename" && renamed.replaced !== undefined, "the rename names the object it replaced");
    await assertScanClean();
    await presto.unlink("/d/f");
    await presto.unlink("/d/h");
    await presto.unlink("/d/s");
    await presto.rmdir("/d");
    assert.deepEqual(newOps().filter((op) => op !== "setattr"), ["rename", "unlink", "unlink", "unlink", "rmdir"]);
    await assertScanClean();
  });

  it("journals a directory rename once, its contents following", async () => {
    await presto.mkdir("/x", 0o755);
    await writeFile("/x/inner", "in");
    newOps();
    await presto.mkdir("/y", 0o755);
    await presto.rename("/x", "/y/x2");
    assert.deepEqual(newOps().filter((op) => op !== "setattr"), ["mkdir", "rename"]);
    await assertScanClean();
  });

  it("journals chmod, chown, utimens and truncate as the scanner would", async () => {
    await writeFile("/t", "0123456789");
    newOps();
    await presto.chmod("/t", 0o600);
    assert.deepEqual(newOps(), ["setattr"]);
    await presto.chown("/t", 0xffffffff, 0xffffffff);
    assert.deepEqual(newOps(), []);
    await presto.utimens("/t", { sec: 0, nsec: UTIME_OMIT }, { sec: 1_000_000_000, nsec: 123_456_789 });
    assert.deepEqual(newOps(), [], "folded into the chmod's setattr of the same batch");
    assert.deepEqual(set.cml.all().at(-1), { ...set.cml.all().at(-1), op: "setattr", attrs: { mode: 0o600, mtimeNs: "1000000000123456789" } });
    await presto.settled();
    await presto.chmod("/t", 0o640);
    assert.deepEqual(newOps(), ["setattr"], "a committed record is never folded into");
    assert.equal((await presto.getattr("/t")).mtimeNs, 1_000_000_000_123_456_789n);
    await presto.truncate("/t", 4);
    assert.deepEqual(newOps(), ["close"]);
    await presto.utimens("/t", { sec: 0, nsec: UTIME_NOW }, { sec: 0, nsec: UTIME_NOW });
    await assertScanClean();
  });

  it("hides .intermezzo/ and refuses it as a new name", async () => {
    assert.ok(!(await presto.readdir("/")).includes(".intermezzo"));
    await assert.rejects(presto.getattr("/.intermezzo"), { code: "ENOENT" });
    await assert.rejects(presto.getattr("/.intermezzo/fileset.db"), { code: "ENOENT" });
    await assert.rejects(presto.mkdir("/.intermezzo", 0o755), { code: "EPERM" });
    await assert.rejects(presto.rename("/before.txt", "/.intermezzo/x"), { code: "EPERM" });
  });

  it("passes errors of the layer below through with their errno names", async () => {
    await assert.rejects(presto.getattr("/missing"), { code: "ENOENT" });
    await assert.rejects(presto.mkdir("/before.txt", 0o755), { code: "EEXIST" });
    await presto.mkdir("/full", 0o755);
    await writeFile("/full/x", "x");
    await assert.rejects(presto.rmdir("/full"), { code: "ENOTEMPTY" });
    await assertScanClean();
  });

  it("settles an update it cannot express (a name it never knew) with a rescan", async () => {
    fs.writeFileSync(path.join(root, "behind-its-back"), "written below the filter");
    await presto.rename("/behind-its-back", "/moved");
    await presto.settled();
    assert.ok(presto.stats.suspects >= 1);
    assert.equal(set.isContinuouslyFiltered(), true, "the rescan restores the filtered state");
    await assertScanClean();
  });
});

describe("filtered state", () => {
  it("is lost on detach and after a crash (attach without detach); the next attach scans", async () => {
    const dir = tempDir("imz-presto-state-");
    const s = FileSet.init(dir, { role: "replica", filesetId: "" });
    try {
      assert.equal(s.isContinuouslyFiltered(), false, "never attached");
      const p = await Presto.attach(s, new Passthrough(s.root));
      assert.equal(s.isContinuouslyFiltered(), true);
      await p.detach();
      assert.equal(s.isContinuouslyFiltered(), false, "detached");
      s.filterEvent("attach", {});
      s.db.prepare(`UPDATE filter_events SET detail = ? WHERE id = (SELECT max(id) FROM filter_events)`).run(JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import("node:os")).hostname() }));
      assert.equal(s.isContinuouslyFiltered(), false, "the attached filter's process is gone");
      fs.writeFileSync(path.join(dir, "while-down"), "changed with no filter");
      const p2 = await Presto.attach(s, new Passthrough(s.root));
      assert.deepEqual(s.cml.all().map((r) => r.op).filter((op) => op !== "setattr"), ["create"], "the recovery scan journaled the suspect");
      await p2.detach();
    } finally {
      s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("upcalls (lazy replica)", () => {
  it("fetches an object without HAS_DATA once, however many opens wait for it, before they proceed", async () => {
    const dir = tempDir("imz-presto-lazy-");
    fs.mkdirSync(path.join(dir, "sub"));
    fs.writeFileSync(path.join(dir, "sub/lazy.txt"), "");
    const s = FileSet.init(dir, { role: "replica", filesetId: "" });
    const calls: string[] = [];
    // Lento's side: writes the data below the filter (never journaled) and sets HAS_DATA.
    const upcall = async (obj: FsObject, rel: string): Promise<void> => {
      calls.push(rel);
      await new Promise((r) => setTimeout(r, 30));
      if (obj.type === "f") fs.writeFileSync(path.join(dir, rel), "fetched content");
      const st = fs.lstatSync(path.join(dir, rel), { bigint: true });
      const hash = obj.type === "f" ? await hashFile(path.join(dir, rel)) : "";
      s.fsdb.put({ ...s.fsdb.must(obj.fid), ...localFields(st), hash, flags: obj.flags | HAS_DATA });
    };
    const p = await Presto.attach(s, new Passthrough(s.root), { upcall });
    try {
      for (const rel of ["sub", "sub/lazy.txt"]) {
        const fid = s.fsdb.child(rel === "sub" ? "root" : s.fsdb.child("root", "sub")!.fid, path.basename(rel))!;
        s.fsdb.put({ ...fid, flags: fid.flags & ~HAS_DATA });
      }
      assert.deepEqual(await p.readdir("/sub"), ["lazy.txt"]);
      assert.deepEqual(calls, ["sub"], "listing a directory without data fetched it");
      const fhs = await Promise.all([p.open("/sub/lazy.txt", fs.constants.O_RDONLY), p.open("/sub/lazy.txt", fs.constants.O_RDONLY)]);
      assert.deepEqual(calls, ["sub", "sub/lazy.txt"], "two concurrent opens, one fetch");
      const buf = Buffer.alloc(64);
      const n = await p.read("/sub/lazy.txt", fhs[0], buf, 64, 0);
      assert.equal(buf.subarray(0, n).toString(), "fetched content");
      for (const fh of fhs) await p.release("/sub/lazy.txt", fh);
      await p.open("/sub/lazy.txt", fs.constants.O_RDONLY).then((fh) => p.release("/sub/lazy.txt", fh));
      assert.equal(calls.length, 2, "an object with data is never fetched again");
      const failing = await Presto.attach(s, new Passthrough(s.root), { upcall: async () => Promise.reject(Object.assign(new Error("holder unreachable"), { code: "EIO" })) });
      const o = s.fsdb.child(s.fsdb.child("root", "sub")!.fid, "lazy.txt")!;
      s.fsdb.put({ ...o, flags: o.flags & ~HAS_DATA });
      await assert.rejects(failing.open("/sub/lazy.txt", fs.constants.O_RDONLY), { code: "EIO" });
      await failing.detach();
    } finally {
      await p.detach();
      s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a file Lento has just replaced with a placeholder, its row not yet committed, is read only once the row says so: never the placeholder's zeros", async () => {
    const dir = tempDir("imz-presto-settle-");
    fs.writeFileSync(path.join(dir, "page.txt"), "version one");
    const s = FileSet.init(dir, { role: "replica", filesetId: "" });
    const calls: string[] = [];
    const upcall = async (obj: FsObject, rel: string): Promise<void> => {
      calls.push(rel);
      fs.writeFileSync(path.join(dir, rel), "version two");
      const st = fs.lstatSync(path.join(dir, rel), { bigint: true });
      s.fsdb.put({ ...s.fsdb.must(obj.fid), ...localFields(st), hash: await hashFile(path.join(dir, rel)), flags: obj.flags | HAS_DATA });
    };
    const p = await Presto.attach(s, new Passthrough(s.root), { upcall });
    try {
      // Lento's apply: the placeholder (a new inode) is renamed into place; its row lands 100 ms later
      const temp = path.join(dir, ".intermezzo", "tmp", "placeholder");
      fs.writeFileSync(temp, "");
      fs.truncateSync(temp, "version two".length);
      fs.renameSync(temp, path.join(dir, "page.txt"));
      const row = s.fsdb.child("root", "page.txt")!;
      const st = fs.lstatSync(path.join(dir, "page.txt"), { bigint: true });
      setTimeout(() => s.fsdb.put({ ...row, ...localFields(st), flags: row.flags & ~HAS_DATA }), 100);
      const fh = await p.open("/page.txt", fs.constants.O_RDONLY);
      const buf = Buffer.alloc(64);
      const n = await p.read("/page.txt", fh, buf, 64, 0);
      await p.release("/page.txt", fh);
      assert.equal(buf.subarray(0, n).toString(), "version two");
      assert.deepEqual(calls, ["page.txt"], "fetched once the row said placeholder");
    } finally {
      await p.detach();
      s.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
