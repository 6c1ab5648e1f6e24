/**
 * A batch is flushed before it is acknowledged, directories and attributes included
 * (`Holding.syncDirs`): watched with `strace` on the real CLI. A batch of renames or attribute
 * changes stages no file data, and such a batch used to be committed with no flush at all. A batch
 * of a few files installed from temp files flushes just those (`flush-list.ts`): each temp file's
 * data before its rename, then the installed file and its directory, before the commit.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { SYNC_BIN } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Runs `intermezzo-sync a b` under `strace -f -y`; returns the traced calls, one per line. */
function traced(a: string, b: string, calls: string): string[] {
  const out = `${a}.strace`;
  dirs.push(out);
  const r = spawnSync("strace", ["-f", "-y", "-qq", "-e", `trace=${calls}`, "-o", out, process.execPath, SYNC_BIN, a, b], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return fs.readFileSync(out, "utf8").split("\n");
}

/** Two synced trees: a (the replica) with `d1/f` and an empty `d2`; b the holder. */
function synced(): { a: string; b: string } {
  const a = tempDir("imz-bd-a-");
  const b = tempDir("imz-bd-b-");
  dirs.push(a, b);
  fs.mkdirSync(path.join(a, "d1"));
  fs.mkdirSync(path.join(a, "d2"));
  fs.writeFileSync(path.join(a, "d1/f"), "content");
  assert.equal(spawnSync(process.execPath, [SYNC_BIN, a, b]).status, 0);
  return { a, b };
}

/** Index of the first `syncfs` of b's file system at or after line `from`. */
const syncfsOfB = (lines: string[], b: string, from: number): number => lines.findIndex((l, i) => i >= from && /\bsyncfs\(/.test(l) && l.includes(`<${b}/`));

describe("a batch is durable before it is acknowledged", () => {
  it("a rename into another directory is flushed after it is made, before the holder commits", () => {
    const { a, b } = synced();
    fs.renameSync(path.join(a, "d1/f"), path.join(a, "d2/g"));
    const lines = traced(a, b, "syncfs,renameat2,fsync");
    const renamed = lines.findIndex((l) => l.includes("renameat2(") && l.includes(`<${b}/d1>`) && l.includes('"g"'));
    assert.ok(renamed >= 0, `the holder's rename is traced:\n${lines.join("\n")}`);
    const flushed = syncfsOfB(lines, b, renamed);
    assert.ok(flushed > renamed, `a syncfs of the holder follows its rename:\n${lines.join("\n")}`);
    const committed = lines.findIndex((l, i) => i > renamed && l.includes(`<${b}/.intermezzo/fileset.db-wal>`) && /\bfsync\(/.test(l));
    assert.ok(committed > flushed, "and comes before the holder's commit");
    assert.equal(fs.readFileSync(path.join(b, "d2/g"), "utf8"), "content");
  });

  it("a change of mode alone is flushed before the holder commits (the file, by name)", () => {
    const { a, b } = synced();
    fs.chmodSync(path.join(a, "d1/f"), 0o600);
    const lines = traced(a, b, "syncfs,fsync");
    // (strace names no path for fchmodat2: the flush is found by the file it names)
    const flushed = lines.findIndex((l) => /\bfsync\(/.test(l) && l.includes(`<${b}/d1/f>`));
    assert.ok(flushed >= 0, `an fsync of the file:\n${lines.join("\n")}`);
    const committed = lines.findIndex((l, i) => i > flushed && l.includes(`<${b}/.intermezzo/fileset.db-wal>`) && /\bfsync\(/.test(l));
    assert.ok(committed > flushed, "before the holder's commit");
    assert.equal(fs.statSync(path.join(b, "d1/f")).mode & 0o777, 0o600);
  });

  it("a few files changed or created: each one's data flushed before its rename, the file and its directory after it, before the holder commits; no syncfs", () => {
    const { a, b } = synced();
    fs.writeFileSync(path.join(a, "d1/f"), "changed content");
    fs.writeFileSync(path.join(a, "d2/g"), "a new file");
    const lines = traced(a, b, "syncfs,fsync,fdatasync,renameat,renameat2");
    const all = lines.join("\n");
    assert.equal(syncfsOfB(lines, b, 0), -1, `no syncfs of the holder's file system:\n${all}`);
    for (const [dir, name] of [["d1", "f"], ["d2", "g"]] as const) {
      const renamed = lines.findIndex((l) => /\brenameat2?\(/.test(l) && l.includes(`<${b}/.intermezzo/tmp>`) && l.includes(`<${b}/${dir}>, "${name}"`));
      assert.ok(renamed >= 0, `${dir}/${name} installed by a rename:\n${all}`);
      const temp = /"(t-[^"]+)"/.exec(lines[renamed]!)![1]!;
      const dataFlushed = lines.findIndex((l) => /\bfdatasync\(/.test(l) && l.includes(`<${b}/.intermezzo/tmp/${temp}>`));
      assert.ok(dataFlushed >= 0 && dataFlushed < renamed, `its temp file's data is flushed before the rename:\n${all}`);
      const fileFlushed = lines.findIndex((l, i) => i > renamed && /\bfsync\(/.test(l) && l.includes(`<${b}/${dir}/${name}>`));
      const dirFlushed = lines.findIndex((l, i) => i > renamed && /\bfsync\(/.test(l) && l.includes(`<${b}/${dir}>`));
      assert.ok(fileFlushed > renamed && dirFlushed > renamed, `the file and its directory are flushed after it:\n${all}`);
      const committed = lines.findIndex((l, i) => i > renamed && l.includes(`<${b}/.intermezzo/fileset.db-wal>`) && /\bfsync\(/.test(l));
      assert.ok(committed > fileFlushed && committed > dirFlushed, `before the holder's commit:\n${all}`);
    }
    assert.equal(fs.readFileSync(path.join(b, "d1/f"), "utf8"), "changed content");
    assert.equal(fs.readFileSync(path.join(b, "d2/g"), "utf8"), "a new file");
  });
});
