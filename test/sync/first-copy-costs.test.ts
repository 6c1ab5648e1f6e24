/**
 * What the fifth round of "Speed without a journal" changed for a first copy's per-file costs
 * (docs/DESIGN.md): a batch's reads in one read transaction (`FileSet.reading`, `Holding.reading`)
 * that neither blocks nor hides another connection's writes and leaves an outer transaction
 * alone; directory paths remembered meanwhile (`Fsdb.pathOf`'s `dirs`) giving the same paths;
 * `openBeneath` under a root opened once (a descriptor) refusing what it refuses under a root path;
 * temp names unique and still recognised by the temp area's clean-up; a path's extended attributes
 * read the same with the one-call answer for an object that has none.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { hashBuffer } from "../../src/journal/content-hash.js";
import { FileSet, META_DIR } from "../../src/journal/fileset.js";
import { scan } from "../../src/filter/scanner.js";
import { AT_FDCWD, readXattrs } from "../../src/filter/xattr-io.js";
import { Applier } from "../../src/sync/apply.js";
import { BATCH_FILE_MAX, readBatch } from "../../src/sync/batch-transfer.js";
import { openBeneath } from "../../src/sync/beneath.js";
import { put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-costs-");
after(() => scratch.cleanup());

/** A scanned file set with files in nested directories; returns it and the fids of its files by path. */
async function scanned(role: "holder" | "replica"): Promise<{ set: FileSet; files: Map<string, string> }> {
  const root = scratch.dir();
  for (const rel of ["a.txt", "d1/b.txt", "d1/d2/c.txt", "d1/d2/d3/e.txt", "d4/f.txt"]) put(root, rel, `content of ${rel}\n`);
  const set = FileSet.init(root, { role });
  await scan(set);
  const files = new Map<string, string>();
  for (const rel of ["a.txt", "d1/b.txt", "d1/d2/c.txt", "d1/d2/d3/e.txt", "d4/f.txt"]) {
    let fid = "root";
    for (const name of rel.split("/")) fid = set.fsdb.childFid(fid, name)!;
    files.set(rel, fid);
  }
  return { set, files };
}

describe("a first copy's per-file costs", () => {
  it("a read transaction sees one snapshot, lets another connection commit meanwhile, and leaves an outer transaction open", async () => {
    const { set, files } = await scanned("holder");
    const other = FileSet.open(set.root);
    try {
      const fid = files.get("a.txt")!;
      const seen = set.reading(() => {
        assert.equal(set.db.inTransaction, true);
        const before = set.fsdb.versionOf(fid);
        // another connection writes and commits while this one reads (WAL: a reader blocks no writer)
        other.transaction(() => other.fsdb.setVersion(fid, "elsewhere:1"));
        return { before, during: set.fsdb.versionOf(fid) };
      });
      assert.equal(seen.during, seen.before, "one snapshot for the whole read transaction");
      assert.equal(set.db.inTransaction, false);
      assert.equal(set.fsdb.versionOf(fid), "elsewhere:1", "the other connection's commit is seen after it");
      // inside a transaction of the caller's, reading neither commits nor ends it
      set.db.exec("BEGIN");
      set.fsdb.setVersion(fid, "mine:2");
      set.reading(() => set.fsdb.versionOf(fid));
      assert.equal(set.db.inTransaction, true);
      set.db.exec("ROLLBACK");
      assert.equal(set.fsdb.versionOf(fid), "elsewhere:1");
    } finally {
      other.close();
      set.close();
    }
  });

  it("paths with remembered directories are the paths without; a batch read in one transaction serves every file", async () => {
    const { set, files } = await scanned("replica");
    try {
      const dirs = new Map<string, string>();
      for (const [rel, fid] of files) {
        assert.equal(set.fsdb.pathOf(fid, dirs), rel);
        assert.equal(set.fsdb.pathOf(fid, dirs), set.fsdb.pathOf(fid));
      }
      assert.equal(dirs.get("root"), "");
      const holding = new Applier(set, { owner: false }).holding;
      const batch = readBatch(holding, [...files.values()].map((fid) => ({ fid })));
      const entries = await batch.done;
      assert.deepEqual(
        entries.map((e) => ("error" in e ? e.error.code : e.hash)),
        [...files.keys()].map((rel) => hashBuffer(Buffer.from(`content of ${rel}\n`))),
      );
      assert.equal(set.db.inTransaction, false, "the batch's read transaction ended");
    } finally {
      set.close();
    }
  });

  it("a batch is read beneath the root: a symlink on the way or in a file's place, a FIFO, a file grown past the limit or gone are error entries, the rest served", async () => {
    const { set, files } = await scanned("replica");
    const outside = scratch.dir();
    try {
      put(outside, "e.txt", "outside");
      put(outside, "c.txt", "outside");
      const root = set.root;
      fs.rmSync(path.join(root, "a.txt"));
      fs.symlinkSync(path.join(outside, "e.txt"), path.join(root, "a.txt")); // a symlink in a file's place
      fs.renameSync(path.join(root, "d1/d2"), path.join(root, "d1/d2-moved"));
      fs.symlinkSync(outside, path.join(root, "d1/d2")); // a symlink on the way
      fs.rmSync(path.join(root, "d4/f.txt"));
      execFileSync("mkfifo", [path.join(root, "d4/f.txt")]); // a FIFO: not opened for long, never blocking
      const asked = [...files.values()].map((fid) => ({ fid }));
      const holding = new Applier(set, { owner: false }).holding;
      fs.writeFileSync(path.join(root, "d1/b.txt"), Buffer.alloc(BATCH_FILE_MAX + 1, 1)); // grown past the batch's limit
      const batch = readBatch(holding, [...asked, { fid: "abcdef:404" }]);
      const chunks: Buffer[] = [];
      for await (const c of batch.chunks) chunks.push(c);
      const entries = await batch.done;
      assert.deepEqual(
        entries.map((e) => ("error" in e ? e.error.code : "served")),
        ["PATH_UNSAFE", "UNSUPPORTED", "PATH_UNSAFE", "PATH_UNSAFE", "PATH_UNSAFE", "RECORD_INVALID"],
      );
      assert.deepEqual(chunks, [], "nothing read");

      // the tree put back: every file served, its bytes in order, with its size, mtime and hash
      fs.rmSync(path.join(root, "a.txt"));
      fs.rmSync(path.join(root, "d1/d2"));
      fs.renameSync(path.join(root, "d1/d2-moved"), path.join(root, "d1/d2"));
      fs.rmSync(path.join(root, "d4/f.txt"));
      for (const rel of files.keys()) put(root, rel, `content of ${rel}\n`);
      const again = readBatch(holding, asked);
      const bytes: Buffer[] = [];
      for await (const c of again.chunks) bytes.push(c);
      const served = await again.done;
      assert.equal(Buffer.concat(bytes).toString(), [...files.keys()].map((rel) => `content of ${rel}\n`).join(""));
      assert.deepEqual(
        served,
        [...files.keys()].map((rel) => {
          const text = Buffer.from(`content of ${rel}\n`);
          return { size: text.length, mtimeNs: String(fs.statSync(path.join(root, rel), { bigint: true }).mtimeNs), hash: hashBuffer(text) };
        }),
      );
    } finally {
      set.close();
    }
  });

  it("openBeneath under a root descriptor opens what it opens under the root's path and refuses a symlink on the way", async () => {
    const root = scratch.dir();
    put(root, "d/f.txt", "x");
    fs.symlinkSync(path.join(root, "d"), path.join(root, "link"));
    const rootFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const fd = openBeneath(rootFd, "d/f.txt", fs.constants.O_RDONLY);
      assert.equal(fs.readFileSync(fd, "utf8"), "x");
      fs.closeSync(fd);
      assert.throws(() => openBeneath(rootFd, "link/f.txt", fs.constants.O_RDONLY), (err) => isImzError(err, "PATH_UNSAFE"));
      assert.throws(() => openBeneath(rootFd, "../escape", fs.constants.O_RDONLY), (err) => isImzError(err, "PATH_UNSAFE"));
      // the descriptor stays the caller's: still open after the calls
      assert.ok(fs.fstatSync(rootFd).isDirectory());
    } finally {
      fs.closeSync(rootFd);
    }
  });

  it("a staged temp file is created relative to the temp area opened once: private, whole, and never through a symlink put in its place", async () => {
    const { set } = await scanned("holder");
    const outside = scratch.dir();
    try {
      const holding = new Applier(set, { owner: false }).holding;
      const one = (text: string): Promise<string> => holding.writeTemps(Buffer.from(text), [{ at: 0, size: text.length, hash: hashBuffer(Buffer.from(text)) }]).then((t) => t[0]!);
      const first = await one("first");
      const tmp = path.join(set.root, META_DIR, "tmp");
      assert.equal(fs.readFileSync(path.join(tmp, path.basename(first)), "utf8"), "first");
      assert.equal(fs.statSync(path.join(tmp, path.basename(first))).mode & 0o777, 0o600);
      // the temp area swapped for a symlink to elsewhere: the next temp file still lands in the area opened
      fs.renameSync(tmp, `${tmp}.moved`);
      fs.symlinkSync(outside, tmp);
      const second = await one("second");
      assert.deepEqual(fs.readdirSync(outside), []);
      assert.equal(fs.readFileSync(path.join(`${tmp}.moved`, path.basename(second)), "utf8"), "second");
    } finally {
      set.close();
    }
  });

  it("extended attributes by path: none, some, a symlink's, a missing object — the same answers with the one-call path for none", () => {
    const root = scratch.dir();
    put(root, "plain.txt", "x");
    put(root, "tagged.txt", "y");
    execFileSync("setfattr", ["-n", "user.tag", "-v", "1", path.join(root, "tagged.txt")]);
    fs.symlinkSync("tagged.txt", path.join(root, "link"));
    assert.deepEqual(readXattrs(AT_FDCWD, path.join(root, "plain.txt")), {});
    assert.deepEqual(readXattrs(AT_FDCWD, path.join(root, "tagged.txt")), { "user.tag": Buffer.from("1").toString("base64") });
    assert.deepEqual(readXattrs(AT_FDCWD, path.join(root, "link")), {}, "a symlink is not followed");
    assert.throws(() => readXattrs(AT_FDCWD, path.join(root, "gone")), (err) => (err as NodeJS.ErrnoException).code === "ENOENT");
  });

  it("temp names are unique in a process and removed by the clean-up once their process is gone", async () => {
    const { set } = await scanned("holder");
    try {
      const holding = new Applier(set, { owner: false }).holding;
      const names = Array.from({ length: 2000 }, () => path.basename(holding.tempPath()));
      assert.equal(new Set(names).size, names.length);
      assert.match(names[0]!, new RegExp(`^t-${process.pid}-[0-9a-f]{8}-[0-9a-z]+$`));
      // a name of a dead process (pid 2^22 + 1 is above Linux's pid_max) is cleaned up; ours is kept
      const dead = names[0]!.replace(`-${process.pid}-`, `-${(1 << 22) + 1}-`);
      const tmp = path.join(set.root, META_DIR, "tmp");
      fs.writeFileSync(path.join(tmp, dead), "left by a killed run");
      fs.writeFileSync(path.join(tmp, names[1]!), "ours");
      set.cleanTemp();
      assert.deepEqual(fs.readdirSync(tmp).sort(), [names[1]!]);
    } finally {
      set.close();
    }
  });
});
