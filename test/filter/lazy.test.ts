/**
 * A lazy replica (`intermezzo replicate SERVER DIR --lazy`) mounted through real FUSE: names and
 * attributes are there without data, a file's first read fetches it from the holder through a real
 * `intermezzo serve --stdio` child, later reads and concurrent first reads do not fetch again; and a
 * later `intermezzo-sync` of the replica neither deletes nor truncates anything on the holder.
 *
 * The mount runs in this process so the upcall counters can be read; everything that touches the
 * mount is a child process (`find`, `cat`, `md5sum`) started outside it (`cd` in the shell): a
 * synchronous call here — a child's `chdir` during spawn included — would block the event loop
 * that answers FUSE.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { mountFileSet, type MountedFileSet } from "../../src/filter/mount.js";
import { FileSet } from "../../src/journal/fileset.js";
import { isPlaceholder } from "../../src/journal/fsdb.js";
import { upcallsFor, type LentoUpcall } from "../../src/sync/upcall.js";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { makeVariedTree, manifest, tempDir, writeLargeFile } from "../helpers/tree.js";
import { sh } from "./fuse-helpers.js";

/** Runs a shell command in directory `cwd`, started from outside it. */
function shIn(cwd: string, cmd: string): Promise<string> {
  return sh(`cd '${cwd}' && ${cmd}`, "/");
}

/** `find` listing of a tree below its root: path, type, size, mtime, mode and link target of every object but `.intermezzo`. */
function listing(root: string): Promise<string> {
  return shIn(root, `find . -mindepth 1 -path ./.intermezzo -prune -o -printf '%P %y %s %T@ %m %l\\n' | sort`);
}

function md5(file: string): string {
  return createHash("md5").update(fs.readFileSync(file)).digest("hex");
}

/** The replica's Fsdb rows of files, by path, read through a second connection. */
function placeholders(dir: string): string[] {
  const set = FileSet.open(dir);
  try {
    const rows = set.db.prepare<[], { fid: string }>(`SELECT fid FROM objects WHERE type = 'f'`).all();
    return rows.map((r) => set.fsdb.get(r.fid)!).filter((o) => isPlaceholder(o)).map((o) => set.fsdb.pathOf(o.fid)).sort();
  } finally {
    set.close();
  }
}

describe("a lazy replica through FUSE", () => {
  const holder = tempDir("imz-lazy-holder-");
  const dir = path.join(tempDir("imz-lazy-parent-"), "replica");
  const mnt = tempDir("imz-lazy-mnt-");
  let m: MountedFileSet | undefined;
  let lento: LentoUpcall | undefined;

  before(async () => {
    makeVariedTree(holder);
    writeLargeFile(path.join(holder, "big.bin"), 6 << 20, 3);
    const r = await runCli(IMZ_BIN, ["replicate", "--json", holder, dir, "--lazy"]);
    assert.equal(r.code, 0, r.stderr);
    const made = JSON.parse(r.stdout) as { objects: number; placeholders: number; sync: { filesReceived: number } };
    assert.equal(made.sync.filesReceived, 0, "a lazy replica moves no file data");
    assert.equal(made.placeholders, 9);
    m = await mountFileSet(dir, mnt, {}, (set) => (lento = upcallsFor(set, { owner: true })));
    assert.ok(lento, "the mount of a lazy replica has upcalls");
  });

  after(async () => {
    await m?.unmount();
    for (const d of [holder, path.dirname(dir), mnt]) fs.rmSync(d, { recursive: true, force: true });
  });

  it("lists names, sizes, modes and times without fetching any data", async () => {
    assert.equal(await listing(mnt), await listing(holder));
    assert.equal(lento!.stats.fetches, 0);
    assert.equal(lento!.stats.connections, 0, "listing never reaches the holder");
    assert.equal((await shIn(dir, `stat -c %b big.bin`)).trim(), "0", "the placeholder below the mount holds no blocks");
  });

  it("fetches a file on its first read, and not on the second", async () => {
    assert.equal(await shIn(mnt, `cat top.txt | md5sum | cut -d' ' -f1`), `${md5(path.join(holder, "top.txt"))}\n`);
    assert.equal(lento!.stats.fetches, 1);
    assert.ok(!placeholders(dir).includes("top.txt"), "the Fsdb has HAS_DATA for it now");
    assert.equal(await shIn(mnt, `cat top.txt | md5sum | cut -d' ' -f1`), `${md5(path.join(holder, "top.txt"))}\n`);
    assert.equal(lento!.stats.fetches, 1, "a file with data is read locally");
    assert.equal(await listing(mnt), await listing(holder), "the fetched file kept its attributes");
  });

  it("makes one fetch for concurrent first reads of one file", async () => {
    const sums = await shIn(mnt, `for i in 1 2 3 4; do md5sum big.bin & done; wait`);
    assert.deepEqual(sums.trim().split("\n").map((l) => l.split(" ")[0]), Array(4).fill(md5(path.join(holder, "big.bin"))));
    assert.equal(lento!.stats.fetches, 2);
    assert.equal(lento!.stats.bytes, 12 + (6 << 20));
  });

  it("fetches a hard-linked file once for both names", async () => {
    assert.equal(await shIn(mnt, `cat a/hard-two | md5sum | cut -d' ' -f1`), `${md5(path.join(holder, "a/b/two.bin"))}\n`);
    assert.equal(await shIn(mnt, `cat a/b/two.bin | md5sum | cut -d' ' -f1`), `${md5(path.join(holder, "a/b/two.bin"))}\n`);
    assert.equal(lento!.stats.fetches, 3);
    assert.ok(!placeholders(dir).includes("a/b/two.bin"));
  });

  it("fetches before a write, so an append keeps the content", async () => {
    await shIn(mnt, `printf 'more' >> a/one`);
    assert.equal(lento!.stats.fetches, 4);
    const expected = createHash("md5").update(Buffer.concat([fs.readFileSync(path.join(holder, "a/one")), Buffer.from("more")])).digest("hex");
    assert.equal(await shIn(mnt, `md5sum a/one | cut -d' ' -f1`), `${expected}\n`);
  });

  it("syncs later without deleting or truncating anything on the holder", async () => {
    await m!.unmount();
    m = undefined;
    const before = manifest(holder);
    const left = placeholders(dir);
    assert.ok(left.length >= 4, `placeholders left: ${left.join(", ")}`);
    // A placeholder written below the mount (not through it) must not reach the holder either.
    fs.appendFileSync(path.join(dir, "a/b/c/d/deep"), "local bytes");
    const s = await syncJson([dir, holder]);
    assert.equal(s.code, 4, s.stderr);
    assert.deepEqual(s.json!.problems.map((p) => [p.code, p.path]), [["NO_DATA", "a/b/c/d/deep"]]);
    assert.equal(s.json!.filesReceived, 0, "a lazy replica fetches nothing during a sync");
    const after = manifest(holder);
    const appended = after.find((e) => e.path === "a/one")!;
    assert.equal(appended.size, before.find((e) => e.path === "a/one")!.size + 4, "the write through the mount was shipped");
    assert.deepEqual(after.filter((e) => e.path !== "a/one"), before.filter((e) => e.path !== "a/one"));
    assert.deepEqual(placeholders(dir), left, "still placeholders after the sync");
  });

  it("turns a file changed on the holder back into a placeholder of its new size", async () => {
    fs.writeFileSync(path.join(holder, "top.txt"), "new on the holder\n");
    const s = await syncJson([dir, holder]);
    assert.equal(s.code, 4, s.stderr); // the NO_DATA problem above is still there
    assert.ok(placeholders(dir).includes("top.txt"));
    assert.equal(fs.statSync(path.join(dir, "top.txt")).size, 18);
    m = await mountFileSet(dir, mnt, {}, (set) => (lento = upcallsFor(set, { owner: true })));
    assert.equal(await shIn(mnt, `cat top.txt`), "new on the holder\n");
    assert.equal(lento!.stats.fetches, 1);
  });

  it("fetches a placeholder first read through a hard link made here, by the name the holder knows", async () => {
    const file = "with space/and more/file with spaces";
    assert.ok(placeholders(dir).includes(file));
    const before = lento!.stats.fetches;
    await shIn(mnt, `ln '${file}' linked`);
    const want = md5(path.join(holder, file));
    assert.equal(await shIn(mnt, `md5sum linked | cut -d' ' -f1`), `${want}\n`);
    assert.equal(await shIn(mnt, `md5sum '${file}' | cut -d' ' -f1`), `${want}\n`);
    assert.equal(lento!.stats.fetches, before + 1, "one fetch for both names");
  });
});

describe("intermezzo replicate", () => {
  it("makes a full replica without --lazy, its root with the holder's mode, and refuses a directory that is not empty", async () => {
    const holder = tempDir("imz-rep-holder-");
    const dir = tempDir("imz-rep-full-");
    try {
      makeVariedTree(holder);
      fs.chmodSync(holder, 0o750);
      const r = await runCli(IMZ_BIN, ["replicate", holder, dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(manifest(dir), manifest(holder));
      assert.equal(fs.statSync(dir).mode & 0o777, 0o750);
      assert.deepEqual(placeholders(dir), []);
      const again = await runCli(IMZ_BIN, ["replicate", holder, dir, "--lazy"]);
      assert.equal(again.code, 5);
      assert.match(again.stderr, /\[NOT_EMPTY\]/);
      assert.match(again.stderr, /hint: .*intermezzo-sync/);
    } finally {
      for (const d of [holder, dir]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
