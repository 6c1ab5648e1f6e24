/**
 * The scanner on real directories: a replica file set is scanned once for a baseline, changed on
 * disk, scanned again, and the records it journaled are read from the CML. Table-driven named cases
 * with the expected records spelled out as "op path" lines; the order-sensitive ones are also
 * replayed by syncing into a holder (`LentoServer` in-process) and comparing manifests.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import type { ScanReport } from "../../src/filter/scan-record.js";
import { scan } from "../../src/filter/scanner.js";
import { hashFile } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID, type JournalRecord } from "../../src/journal/records.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets } from "../../src/sync/sync.js";
import { makeVariedTree, manifest, tempDir } from "../helpers/tree.js";

/** Options for the replay syncs (a variable, so fields other branches add are not excess properties). */
const SYNC = { dryRun: false, maxDeleteFraction: 1, force: true, owner: true, mirror: false, replicaIsSrc: true };

function write(root: string, rel: string, text: string | Buffer): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}

/** Every known fid's path in the file set. */
function paths(set: FileSet): Map<string, string> {
  const out = new Map<string, string>();
  for (const { fid } of set.db.prepare<[], { fid: string }>(`SELECT fid FROM objects`).all()) out.set(fid, set.fsdb.pathOf(fid));
  return out;
}

/**
 * A record as one readable line: `op path` (`rename from -> to`), with swap names normalised and the
 * root as `.`; a directory's own mtime change (its entries changed) is `dir-mtime path`.
 */
function line(r: JournalRecord, at: Map<string, string>, dirs: Set<string>): string {
  const p = (parent: string, name: string): string => {
    const dir = parent === ROOT_FID ? "" : at.get(parent) ?? `<${parent}>`;
    return (dir === "" ? name : `${dir}/${name}`).replace(/\.imz-swap-[0-9a-f-]+/, ".imz-swap");
  };
  switch (r.op) {
    case "rename":
      return `rename ${p(r.parent, r.name)} -> ${p(r.newParent, r.newName)}`;
    case "setattr": {
      const keys = Object.keys(r.attrs).sort().join(",");
      const where = at.get(r.fid) || ".";
      return dirs.has(r.fid) && keys === "mtimeNs" ? `dir-mtime ${where}` : `setattr ${where} ${keys}`;
    }
    case "close":
      return `close ${at.get(r.fid)}`;
    default:
      return `${r.op} ${p(r.parent, r.name)}`;
  }
}

interface Scanned {
  records: JournalRecord[];
  /** Every record as a line, in order. */
  all: string[];
  /** The lines other than directories' own mtime changes. */
  lines: string[];
  report: ScanReport;
}

/** Scans `root`'s file set; returns the records this scan added to the CML as lines. */
async function scanOnce(root: string, opts: { force?: boolean; maxDeleteFraction?: number; specials?: boolean; dirs?: string[] } = {}): Promise<Scanned> {
  const set = FileSet.open(root);
  try {
    const before = paths(set);
    const n = set.cml.count();
    const report = await scan(set, opts);
    const records = set.cml.all().slice(n);
    const at = new Map([...before, ...paths(set)]);
    const dirs = new Set(set.db.prepare<[], { fid: string }>(`SELECT fid FROM objects WHERE type = 'd'`).all().map((o) => o.fid));
    const all = records.map((r) => line(r, at, dirs));
    // a directory's own attributes are journaled after every change to its entries
    const firstDirMtime = all.findIndex((l) => l.startsWith("dir-mtime "));
    if (firstDirMtime >= 0) assert.ok(all.slice(firstDirMtime).every((l) => l.startsWith("dir-mtime ")), JSON.stringify(all));
    return { records, all, lines: all.filter((l) => !l.startsWith("dir-mtime ")), report };
  } finally {
    set.close();
  }
}

/** A replica at `root` with its baseline journaled and dropped (so only later changes show). */
async function baseline(root: string): Promise<void> {
  const set = FileSet.init(root, { role: "replica" });
  try {
    await scan(set);
    set.cml.drop(set.cml.all().map((r) => r.seq));
  } finally {
    set.close();
  }
}

/** A replica at `root` synced with a fresh holder; returns the holder's root. */
async function synced(root: string, holder: string): Promise<void> {
  const r = await syncFileSets(root, new LentoServer(holder, { owner: true }), SYNC);
  assert.deepEqual([r.conflicts, r.problems], [[], []]);
  assert.deepEqual(manifest(holder), manifest(root));
}

interface Case {
  name: string;
  setup: (root: string) => void;
  change: (root: string) => void;
  /** The records expected, in order (exact), or a check of them. */
  expect: string[] | ((s: Scanned) => void);
  /** Replay the records into a holder by syncing, and compare trees. */
  replay?: boolean;
  /** Scan only these directories, as a watcher's events name them (`ScanOptions.dirs`); default the whole tree. */
  dirs?: string[];
}

function files(root: string, dir: string, n: number): void {
  fs.mkdirSync(path.join(root, dir), { recursive: true });
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(root, dir, `f${i}`), `file ${i} of ${dir}\n`);
}

/**
 * Removes files from the tree while keeping their inodes allocated (a second name under the
 * ignored `.intermezzo/`), so a file created next cannot reuse an inode number and pass for a
 * rename of a removed one.
 */
function removeKeepingInodes(root: string, rels: string[]): void {
  for (const rel of rels) {
    fs.linkSync(path.join(root, rel), path.join(root, ".intermezzo", `kept-inode-${rel.replace(/\//g, "-")}`));
    fs.rmSync(path.join(root, rel));
  }
}

/**
 * Makes inode numbers look reused, whatever this filesystem did (ext4 gives a freed number to the
 * lowest-numbered free slot, which may or may not be the file created next): for each
 * `[known, now]` pair of root-level names, the Fsdb's object `known` gets the inode number of the
 * entry now at `now`.
 */
function poseAsReused(root: string, pairs: [known: string, now: string][]): void {
  const set = FileSet.open(root);
  try {
    for (const [known, now] of pairs) {
      const st = fs.lstatSync(path.join(root, now), { bigint: true });
      set.fsdb.put({ ...set.fsdb.child(ROOT_FID, known)!, ino: `${st.dev}:${st.ino}` });
    }
  } finally {
    set.close();
  }
}

/** Index of the first line equal to `l` (fails when absent). */
function at(lines: string[], l: string): number {
  const i = lines.indexOf(l);
  assert.ok(i >= 0, `missing '${l}' in ${JSON.stringify(lines)}`);
  return i;
}

const CASES: Case[] = [
  { name: "no change journals nothing", setup: (r) => makeVariedTree(r), change: () => undefined, expect: [] },
  {
    name: "content changed at the same size (mtime moved): one close, found by hash",
    setup: (r) => write(r, "f", "aaaa"),
    change: (r) => {
      write(r, "f", "bbbb");
      fs.utimesSync(path.join(r, "f"), new Date(2_000_000_000_000), new Date(2_000_000_000_000));
    },
    expect: ["close f"],
    replay: true,
  },
  {
    name: "mtime-only change: setattr of mtime, no close",
    setup: (r) => write(r, "f", "same"),
    change: (r) => fs.utimesSync(path.join(r, "f"), new Date(1_500_000_000_000), new Date(1_500_000_000_000)),
    expect: ["setattr f mtimeNs"],
    replay: true,
  },
  {
    name: "content and mode changed together: a close and a setattr of mode (the close carries no mode)",
    setup: (r) => write(r, "f", "first"),
    change: (r) => (fs.appendFileSync(path.join(r, "f"), ", and more"), fs.chmodSync(path.join(r, "f"), 0o755)),
    expect: ["close f", "setattr f mode"],
    replay: true,
  },
  { name: "chmod: setattr of mode", setup: (r) => write(r, "f", "x"), change: (r) => fs.chmodSync(path.join(r, "f"), 0o600), expect: ["setattr f mode"], replay: true },
  {
    name: "rename of a file: one rename, no create/close/unlink",
    setup: (r) => (write(r, "a.txt", "alpha"), write(r, "d/keep", "k")),
    change: (r) => fs.renameSync(path.join(r, "a.txt"), path.join(r, "d/b.txt")),
    expect: ["rename a.txt -> d/b.txt"],
    replay: true,
  },
  {
    name: "rename of a directory holding 1,000 files: one rename",
    setup: (r) => files(r, "big", 1000),
    change: (r) => fs.renameSync(path.join(r, "big"), path.join(r, "big2")),
    expect: ["rename big -> big2"],
    replay: true,
  },
  {
    name: "move into a new directory: the mkdir comes before the rename",
    setup: (r) => write(r, "a", "payload"),
    change: (r) => (fs.mkdirSync(path.join(r, "new")), fs.renameSync(path.join(r, "a"), path.join(r, "new/a"))),
    expect: (s) => {
      assert.ok(at(s.lines, "mkdir new") < at(s.lines, "rename a -> new/a"));
      assert.equal(s.records.filter((r) => r.op === "create" || r.op === "unlink").length, 0);
    },
    replay: true,
  },
  {
    name: "a file deleted and another created on its freed inode number: unlink and create, not a rename",
    setup: (r) => (write(r, "old.html", "<p>old page</p>"), write(r, "keep", "k")),
    change: (r) => {
      fs.rmSync(path.join(r, "old.html"));
      write(r, "new.html", "<p>new page</p>");
      poseAsReused(r, [["old.html", "new.html"]]);
    },
    expect: (s) => assert.deepEqual([...s.lines].sort(), ["create new.html", "unlink old.html"]),
    replay: true,
  },
  {
    name: "a file deleted and created again at its name on its freed inode number: unlink and create, as an editor's save",
    setup: (r) => write(r, "f", "first file"),
    change: (r) => {
      fs.rmSync(path.join(r, "f"));
      write(r, "f", "second file");
      poseAsReused(r, [["f", "f"]]);
    },
    expect: ["unlink f", "create f"],
    replay: true,
  },
  {
    name: "editor save (write a temp, rename it over the file): the name is freed before the new file is placed",
    setup: (r) => write(r, "doc.txt", "version 1\n"),
    change: (r) => (write(r, ".doc.txt.swp", "version 2, longer\n"), fs.renameSync(path.join(r, ".doc.txt.swp"), path.join(r, "doc.txt"))),
    expect: ["unlink doc.txt", "create doc.txt"],
    replay: true,
  },
  {
    name: "swap of two files (a→t, b→a, t→b): renames through a temporary name, replayable",
    setup: (r) => (write(r, "a", "content of a"), write(r, "b", "content of b, longer")),
    change: (r) => {
      fs.renameSync(path.join(r, "a"), path.join(r, "t"));
      fs.renameSync(path.join(r, "b"), path.join(r, "a"));
      fs.renameSync(path.join(r, "t"), path.join(r, "b"));
    },
    expect: (s) => {
      assert.equal(s.lines.length, 3, JSON.stringify(s.lines));
      assert.ok(s.lines.every((l) => l.startsWith("rename ")), JSON.stringify(s.lines));
    },
    replay: true,
  },
  {
    name: "delete of a subtree: unlinks before rmdirs, deepest first",
    setup: (r) => {
      files(r, "keep", 30);
      files(r, "gone/x/y", 3);
      files(r, "gone/x", 2);
      fs.symlinkSync("../x", path.join(r, "gone/x/y/ln"));
      fs.mkdirSync(path.join(r, "gone/empty"));
    },
    change: (r) => fs.rmSync(path.join(r, "gone"), { recursive: true }),
    expect: (s) => {
      const removed = s.lines;
      assert.equal(removed.length, 3 + 2 + 1 + 4, JSON.stringify(s.lines));
      assert.ok(removed.every((l) => l.startsWith("unlink ") || l.startsWith("rmdir ")));
      // every rmdir comes after the removal of everything below it
      for (const [i, l] of removed.entries()) {
        if (!l.startsWith("rmdir ")) continue;
        const dir = l.slice("rmdir ".length);
        for (const later of removed.slice(i + 1)) assert.ok(!later.split(" ")[1]!.startsWith(`${dir}/`), `${later} after ${l}`);
      }
      assert.equal(removed.at(-1), "rmdir gone");
    },
    replay: true,
  },
  {
    name: "a file replaced by a directory at the same name",
    setup: (r) => write(r, "x", "was a file"),
    change: (r) => (removeKeepingInodes(r, ["x"]), write(r, "x/inner", "now inside a directory")),
    expect: ["unlink x", "mkdir x", "create x/inner"],
    replay: true,
  },
  {
    name: "a directory replaced by a file at the same name",
    setup: (r) => (files(r, "x", 2), files(r, "keep", 10)),
    change: (r) => (removeKeepingInodes(r, ["x/f0", "x/f1"]), fs.rmdirSync(path.join(r, "x")), write(r, "x", "now a file")),
    expect: ["unlink x/f0", "unlink x/f1", "rmdir x", "create x"],
    replay: true,
  },
  {
    name: "a hard link added: one link record",
    setup: (r) => write(r, "orig", "linked content"),
    change: (r) => fs.linkSync(path.join(r, "orig"), path.join(r, "second")),
    expect: ["link second"],
    replay: true,
  },
  {
    name: "rotation of three files (a→t, c→a, b→c, t→b): only renames, replayable",
    setup: (r) => (write(r, "a", "A"), write(r, "b", "BB"), write(r, "c", "CCC")),
    change: (r) => {
      const mv = (x: string, y: string): void => fs.renameSync(path.join(r, x), path.join(r, y));
      mv("a", "t");
      mv("c", "a");
      mv("b", "c");
      mv("t", "b");
    },
    expect: (s) => assert.ok(s.lines.length <= 4 && s.lines.every((l) => l.startsWith("rename ")), JSON.stringify(s.lines)),
    replay: true,
  },
  {
    name: "swap of two directories with contents: only renames, replayable",
    setup: (r) => (files(r, "x", 3), files(r, "y", 2), files(r, "pad", 10)),
    change: (r) => {
      fs.renameSync(path.join(r, "x"), path.join(r, "t"));
      fs.renameSync(path.join(r, "y"), path.join(r, "x"));
      fs.renameSync(path.join(r, "t"), path.join(r, "y"));
    },
    expect: (s) => assert.ok(s.lines.length <= 3 && s.lines.every((l) => l.startsWith("rename ")), JSON.stringify(s.lines)),
    replay: true,
  },
  {
    name: "swap of a file and a directory: only renames, replayable",
    setup: (r) => (write(r, "a", "file a"), files(r, "b", 2), files(r, "pad", 10)),
    change: (r) => {
      fs.renameSync(path.join(r, "a"), path.join(r, "t"));
      fs.renameSync(path.join(r, "b"), path.join(r, "a"));
      fs.renameSync(path.join(r, "t"), path.join(r, "b"));
    },
    expect: (s) => assert.ok(s.lines.length <= 3 && s.lines.every((l) => l.startsWith("rename ")), JSON.stringify(s.lines)),
    replay: true,
  },
  {
    name: "a file moved out of a directory that is then deleted: the rename comes before the rmdir",
    setup: (r) => (files(r, "d", 3), files(r, "pad", 10)),
    change: (r) => (fs.renameSync(path.join(r, "d/f1"), path.join(r, "saved")), fs.rmSync(path.join(r, "d"), { recursive: true })),
    expect: (s) => {
      assert.ok(at(s.lines, "rename d/f1 -> saved") < at(s.lines, "rmdir d"));
      assert.deepEqual(s.lines.filter((l) => l.startsWith("unlink ")).sort(), ["unlink d/f0", "unlink d/f2"]);
    },
    replay: true,
  },
  {
    name: "a directory renamed and a file inside it changed: one rename and one close (by fid, in either order)",
    setup: (r) => files(r, "d", 3),
    change: (r) => (fs.renameSync(path.join(r, "d"), path.join(r, "e")), write(r, "e/f1", "changed after the move, longer")),
    expect: (s) => assert.deepEqual([...s.lines].sort(), ["close e/f1", "rename d -> e"]),
    replay: true,
  },
  {
    name: "content changed in a subdirectory: one close, and the directory's mtime replicates unchanged",
    setup: (r) => files(r, "d", 2),
    change: (r) => write(r, "d/f0", "new content, longer than before"),
    expect: ["close d/f0"],
    replay: true,
  },
  {
    name: "a file renamed over an existing file: the old one goes, one rename",
    setup: (r) => (write(r, "a", "new content"), write(r, "b", "old content")),
    change: (r) => fs.renameSync(path.join(r, "a"), path.join(r, "b")),
    expect: ["unlink b", "rename a -> b"],
    replay: true,
  },
  {
    name: "nested renames (a/b → a/c, then a → z) and a move into new nested directories",
    setup: (r) => (files(r, "a/b", 2), write(r, "m", "moved deep")),
    change: (r) => {
      fs.renameSync(path.join(r, "a/b"), path.join(r, "a/c"));
      fs.renameSync(path.join(r, "a"), path.join(r, "z"));
      fs.mkdirSync(path.join(r, "n1/n2"), { recursive: true });
      fs.renameSync(path.join(r, "m"), path.join(r, "n1/n2/m"));
    },
    expect: (s) => {
      assert.equal(s.records.filter((x) => x.op === "create" || x.op === "unlink").length, 0, JSON.stringify(s.lines));
      assert.ok(at(s.lines, "mkdir n1") < at(s.lines, "mkdir n1/n2"));
      assert.ok(at(s.lines, "mkdir n1/n2") < at(s.lines, "rename m -> n1/n2/m"));
      assert.equal(s.lines.filter((l) => l.startsWith("rename ")).length, 3, JSON.stringify(s.lines));
    },
    replay: true,
  },
  {
    name: "the original name of a hard-linked file removed: one unlink, the other name keeps its content",
    setup: (r) => (write(r, "orig", "shared"), fs.linkSync(path.join(r, "orig"), path.join(r, "other"))),
    change: (r) => fs.rmSync(path.join(r, "orig")),
    expect: ["unlink orig"],
    replay: true,
  },
  {
    name: "a symlink retargeted and a file replaced by a symlink",
    setup: (r) => (fs.symlinkSync("one", path.join(r, "ln")), write(r, "f", "file"), write(r, "pad", "p")),
    change: (r) => {
      fs.rmSync(path.join(r, "ln"));
      fs.symlinkSync("two", path.join(r, "ln"));
      fs.rmSync(path.join(r, "f"));
      fs.symlinkSync("pad", path.join(r, "f"));
    },
    expect: (s) => {
      assert.ok(at(s.lines, "unlink ln") < at(s.lines, "symlink ln"));
      assert.ok(at(s.lines, "unlink f") < at(s.lines, "symlink f"));
      assert.equal(s.lines.length, 4);
    },
    replay: true,
  },
  {
    name: "a directory moved away and a new one made at its name (mv a moved; mkdir a): a rename and a mkdir, the moved one keeps its identity",
    setup: (r) => files(r, "a", 3),
    change: (r) => (fs.renameSync(path.join(r, "a"), path.join(r, "moved")), fs.mkdirSync(path.join(r, "a"))),
    expect: (s) => {
      assert.ok(at(s.lines, "rename a -> moved") < at(s.lines, "mkdir a"), JSON.stringify(s.lines));
      assert.equal(s.records.filter((r) => r.op !== "rename" && r.op !== "mkdir" && r.op !== "setattr").length, 0, JSON.stringify(s.lines));
    },
    replay: true,
  },
  {
    name: "the same, with only `a` named to the scan (as a watcher's events may name it): the root is scanned instead, a rename and a mkdir",
    setup: (r) => files(r, "a", 3),
    change: (r) => (fs.renameSync(path.join(r, "a"), path.join(r, "moved")), fs.mkdirSync(path.join(r, "a"))),
    dirs: ["a"],
    expect: (s) => {
      assert.ok(at(s.lines, "rename a -> moved") < at(s.lines, "mkdir a"), JSON.stringify(s.lines));
      assert.equal(s.records.filter((r) => r.op !== "rename" && r.op !== "mkdir" && r.op !== "setattr").length, 0, JSON.stringify(s.lines));
    },
    replay: true,
  },
  { name: "chmod of a directory: setattr of mode", setup: (r) => files(r, "d", 1), change: (r) => fs.chmodSync(path.join(r, "d"), 0o700), expect: ["setattr d mode"], replay: true },
  {
    name: ".intermezzoignore patterns exclude paths (the ignore file itself is replicated)",
    setup: (r) => write(r, "keep.txt", "k"),
    change: (r) => {
      write(r, ".intermezzoignore", "*.log\nbuild/\n/cache\n");
      write(r, "debug.log", "noise");
      write(r, "sub/deeper.log", "noise");
      write(r, "build/out.o", "binary");
      write(r, "cache", "c");
      write(r, "sub/cache", "not anchored: kept");
    },
    expect: ["create .intermezzoignore", "mkdir sub", "create sub/cache"],
  },
  {
    name: ".intermezzo/ never appears, whatever changes inside it",
    setup: (r) => write(r, "a", "a"),
    change: (r) => {
      write(r, ".intermezzo/tmp/stray", "temp");
      write(r, ".intermezzo/conflicts/x/y", "kept version");
    },
    expect: [],
  },
];

describe("scanner: named cases on real directories", () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const root = tempDir("imz-scan-");
      const holder = tempDir("imz-scan-holder-");
      try {
        c.setup(root);
        if (c.replay) await synced(root, holder);
        else await baseline(root);
        c.change(root);
        const s = await scanOnce(root, c.dirs ? { dirs: c.dirs } : {});
        assert.deepEqual(s.report.problems, []);
        if (typeof c.expect === "function") c.expect(s);
        else assert.deepEqual(s.lines, c.expect);
        for (const r of s.records) assert.ok(!JSON.stringify(r).includes(".intermezzo\""), `record about .intermezzo: ${JSON.stringify(r)}`);
        if (c.replay) await synced(root, holder);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
        fs.rmSync(holder, { recursive: true, force: true });
      }
    });
  }
});

describe("scanner: first scans, special files, mass deletion, memory", () => {
  it("the first scan of a varied tree journals one record per object, each directory before its entries", async () => {
    const root = tempDir("imz-scan-");
    try {
      makeVariedTree(root);
      const set = FileSet.init(root, { role: "replica" });
      set.close();
      const s = await scanOnce(root);
      assert.deepEqual(s.report.problems, []);
      const want = manifest(root);
      const op = { d: "mkdir", l: "symlink", f: "create", s: "mknod" } as const;
      const lines = s.all.filter((l) => l !== "dir-mtime .");
      assert.equal(lines.length, want.length, JSON.stringify(lines));
      // hard links: the first name of the inode is created, every other name is a link to it
      const linked = want.filter((e) => e.links.length > 0).map((e) => e.path);
      for (const e of want) {
        const expected = linked.includes(e.path) ? [`create ${e.path}`, `link ${e.path}`] : [`${op[e.type]} ${e.path}`];
        assert.equal(lines.filter((l) => expected.includes(l)).length, 1, `${e.path}: ${JSON.stringify(lines)}`);
      }
      assert.deepEqual(linked.map((p) => lines.find((l) => l.endsWith(` ${p}`))!.split(" ")[0]).sort(), ["create", "link"]);
      for (const [i, l] of lines.entries()) {
        const p = l.slice(l.indexOf(" ") + 1);
        if (p.includes("/")) assert.ok(at(lines, `mkdir ${path.posix.dirname(p)}`) < i, `${l} before its directory`);
      }
      assert.equal(s.all.filter((l) => l.includes(".intermezzo")).length, 0);
      const again = await scanOnce(root);
      assert.deepEqual(again.all, [], "a second scan found changes");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("a first scan's creates in new directories carry each file's content hash and extended attributes (read by the walk or not)", async () => {
    const root = tempDir("imz-scan-");
    try {
      write(root, "top.txt", "at the root");
      write(root, "new/a.txt", "a");
      write(root, "new/empty", "");
      write(root, "new/deeper/b.txt", "b".repeat(3000));
      write(root, "new/deeper/large.bin", Buffer.alloc(100_000, 3)); // above the walk's limit: hashed by the scanner
      write(root, "new/tagged.txt", "tagged");
      execFileSync("setfattr", ["-n", "user.t", "-v", "1", path.join(root, "new/tagged.txt")]);
      const set = FileSet.init(root, { role: "replica" });
      try {
        const report = await scan(set);
        assert.deepEqual(report.problems, []);
        const creates = new Map(
          set.cml
            .all()
            .filter((r) => r.op === "create")
            .map((r) => [set.fsdb.pathOf(r.fid), r] as const),
        );
        assert.deepEqual([...creates.keys()].sort(), ["new/a.txt", "new/deeper/b.txt", "new/deeper/large.bin", "new/empty", "new/tagged.txt", "top.txt"]);
        for (const [rel, r] of creates) {
          assert.ok(r.op === "create");
          assert.equal(r.content?.hash, await hashFile(path.join(root, rel)), rel);
          assert.equal(set.fsdb.must(r.fid).hash, r.content?.hash, rel);
          assert.deepEqual(r.attrs.xattrs, rel === "new/tagged.txt" ? { "user.t": "MQ==" } : undefined, rel);
        }
        assert.equal(report.hashedBytes, 11 + 1 + 3000 + 100_000 + 6);
      } finally {
        set.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("a symlink recreated with another target on a reused inode number is a new symlink, not the old one", async () => {
    const root = tempDir("imz-scan-");
    const holder = tempDir("imz-scan-holder-");
    try {
      fs.symlinkSync("one", path.join(root, "ln"));
      fs.symlinkSync("one", path.join(root, "ln2"));
      write(root, "pad", "p");
      await synced(root, holder);
      for (const n of ["ln", "ln2"]) fs.rmSync(path.join(root, n));
      fs.symlinkSync("two", path.join(root, "ln"));
      fs.symlinkSync("three", path.join(root, "moved"));
      // the Fsdb's ln gets the new ln's inode, and its ln2 the new symlink 'moved''s (a rename, by number)
      poseAsReused(root, [["ln", "ln"], ["ln2", "moved"]]);
      const s = await scanOnce(root);
      assert.deepEqual([...s.lines].sort(), ["symlink ln", "symlink moved", "unlink ln", "unlink ln2"]);
      assert.ok(at(s.lines, "unlink ln") < at(s.lines, "symlink ln"));
      await synced(root, holder);
      assert.equal(fs.readlinkSync(path.join(holder, "ln")), "two");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(holder, { recursive: true, force: true });
    }
  });

  it("a FIFO is journaled (mknod); with specials off it is a per-path problem UNSUPPORTED, the rest journaled", async () => {
    const root = tempDir("imz-scan-");
    try {
      write(root, "a", "a");
      await baseline(root);
      execFileSync("mkfifo", ["-m", "0640", path.join(root, "pipe")]);
      const fifo = await scanOnce(root);
      assert.deepEqual(fifo.lines, ["mknod pipe"]);
      const rec = fifo.records.find((r) => r.op === "mknod");
      assert.ok(rec?.op === "mknod" && rec.special === "p" && rec.attrs.mode === 0o640, JSON.stringify(rec));
      execFileSync("mkfifo", [path.join(root, "pipe2")]);
      write(root, "b", "b");
      const s = await scanOnce(root, { specials: false });
      assert.deepEqual(s.lines, ["create b"]);
      assert.deepEqual(s.report.problems.map((p) => [p.path, p.code]).sort(), [["pipe", "UNSUPPORTED"], ["pipe2", "UNSUPPORTED"]], "a known one is skipped too, not deleted");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("an unreadable directory is a per-path problem, and none of its known entries looks deleted", async () => {
    // root reads any directory, so the scans run in a child as an unprivileged user (nobody)
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const child = (mode: string, root: string): { report: ScanReport; records: Array<{ op: string; name: string | null }> } => {
      const out = execFileSync(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "scan-child.ts"), mode, root], { ...asUser, encoding: "utf8" });
      return JSON.parse(out.trim().split("\n").at(-1)!) as { report: ScanReport; records: Array<{ op: string; name: string | null }> };
    };
    const root = tempDir("imz-scan-");
    try {
      write(root, "open/a", "a");
      write(root, "locked/b", "b");
      write(root, "locked/c", "c");
      files(root, "pad", 5);
      if ("uid" in asUser) execFileSync("chown", ["-R", "65534:65534", root]);
      child("init", root);
      fs.chmodSync(path.join(root, "locked"), 0);
      write(root, "open/new", "new");
      write(root, "new-locked/x", "x");
      if ("uid" in asUser) execFileSync("chown", ["-R", "65534:65534", path.join(root, "open"), path.join(root, "new-locked")]);
      fs.chmodSync(path.join(root, "new-locked"), 0);
      const s = child("scan", root);
      assert.deepEqual(s.report.problems.map((p) => [p.path, p.code]).sort(), [["locked", "EACCES"], ["new-locked", "EACCES"]]);
      assert.deepEqual(s.records.filter((r) => r.op !== "setattr").map((r) => `${r.op} ${r.name}`).sort(), ["create new", "mkdir new-locked"]);
      fs.chmodSync(path.join(root, "locked"), 0o755);
      fs.chmodSync(path.join(root, "new-locked"), 0o755);
      const again = child("scan", root);
      assert.deepEqual(again.report.problems, []);
      const ops = again.records.map((r) => `${r.op} ${r.name}`);
      assert.ok(ops.includes("create x"), JSON.stringify(ops));
      assert.ok(!ops.some((o) => o.startsWith("unlink ") || o.startsWith("rmdir ")), JSON.stringify(ops));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("mass deletion over the threshold throws MASS_DELETE and journals no deletion; force journals it", async () => {
    const root = tempDir("imz-scan-");
    try {
      files(root, "data", 40);
      files(root, "small", 2);
      await baseline(root);
      // (the files' inodes stay allocated: small/new must not reuse one and pass for a rename)
      removeKeepingInodes(root, Array.from({ length: 40 }, (_, i) => `data/f${i}`));
      fs.rmSync(path.join(root, "data"), { recursive: true });
      write(root, "small/new", "a create in the same scan");
      await assert.rejects(scanOnce(root), (err) => isImzError(err, "MASS_DELETE"));
      const set = FileSet.open(root);
      try {
        assert.deepEqual(set.cml.all().filter((r) => r.op === "unlink" || r.op === "rmdir"), []);
        assert.ok(set.fsdb.child(ROOT_FID, "data"), "the Fsdb forgot the refused deletions");
        // a create that frees no name and needs none freed is journaled in pass 1, as content changes are
        assert.deepEqual(set.cml.all().filter((r) => r.op === "create").map((r) => (r.op === "create" ? r.name : "")), ["new"]);
      } finally {
        set.close();
      }
      await assert.rejects(scanOnce(root, { maxDeleteFraction: 0.9 }), (err) => isImzError(err, "MASS_DELETE"));
      const forced = await scanOnce(root, { force: true });
      assert.equal(forced.records.filter((r) => r.op === "unlink").length, 40);
      assert.deepEqual(forced.lines.filter((l) => l.startsWith("rmdir ")), ["rmdir data"]);
      assert.equal(forced.lines.filter((l) => l.startsWith("unlink ") || l.startsWith("rmdir ")).at(-1), "rmdir data");
      assert.ok(!forced.lines.includes("create small/new"), "journaled once, by the refused scan");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("an emptied root (everything gone) is refused as MASS_DELETE", async () => {
    const root = tempDir("imz-scan-");
    try {
      files(root, "d", 3);
      write(root, "top", "t");
      await baseline(root);
      for (const n of fs.readdirSync(root)) if (n !== ".intermezzo") fs.rmSync(path.join(root, n), { recursive: true });
      await assert.rejects(scanOnce(root), (err) => isImzError(err, "MASS_DELETE"));
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("memory: scanning 20,000 files in 200 directories keeps heap growth modest", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const root = tempDir("imz-scan-mem-");
    try {
      for (let d = 0; d < 200; d++) files(root, `dir${d}`, 100);
      const set = FileSet.init(root, { role: "replica" });
      try {
        gc();
        const base = process.memoryUsage().heapUsed;
        let peak = base;
        const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 5);
        const first = await scan(set);
        clearInterval(timer);
        peak = Math.max(peak, process.memoryUsage().heapUsed); // the walk is synchronous: sample its end too
        gc();
        const afterFirst = process.memoryUsage().heapUsed;
        assert.equal(first.records, 20_200);
        set.cml.drop(set.cml.all().map((r) => r.seq));
        gc();
        const base2 = process.memoryUsage().heapUsed;
        let peak2 = base2;
        const timer2 = setInterval(() => (peak2 = Math.max(peak2, process.memoryUsage().heapUsed)), 5);
        const t0 = Date.now();
        const second = await scan(set);
        const ms = Date.now() - t0;
        clearInterval(timer2);
        peak2 = Math.max(peak2, process.memoryUsage().heapUsed);
        assert.equal(second.records, 0);
        const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
        console.log(
          `scanner memory: first scan peak +${mb(peak - base)}, retained +${mb(afterFirst - base)}; ` +
            `no-change rescan peak +${mb(peak2 - base2)} (${ms} ms, ${second.examined} objects)`,
        );
        assert.ok(peak - base < 400 << 20, `first scan grew the heap by ${mb(peak - base)}`);
        assert.ok(peak2 - base2 < 150 << 20, `a no-change rescan grew the heap by ${mb(peak2 - base2)}`);
      } finally {
        set.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
