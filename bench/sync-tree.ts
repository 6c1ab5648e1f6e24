/**
 * bench/sync-tree: a tree of small files (default 100,000 in 1,000 directories) synced by
 * `intermezzo-sync` and by `rsync -a --delete` in the same run, for a first copy, a no-change
 * resync, and a resync after 10 files changed. Prints each time and the ratio intermezzo/rsync.
 *
 *   node --import tsx bench/sync-tree.ts [files] [dirs]
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const FILES = Number(process.argv[2] ?? 100_000);
const DIRS = Number(process.argv[3] ?? 1_000);
const SYNC = fileURLToPath(new URL("../bin/intermezzo-sync", import.meta.url));

function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function makeTree(root: string): void {
  const per = Math.ceil(FILES / DIRS);
  let n = 0;
  for (let d = 0; d < DIRS && n < FILES; d++) {
    const dir = path.join(root, `d${String(d).padStart(4, "0")}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < per && n < FILES; f++, n++) fs.writeFileSync(path.join(dir, `f${f}.txt`), `file ${n} `.repeat(1 + (n % 400)));
  }
}

function changeTen(root: string, round: number): void {
  for (let i = 0; i < 10; i++) {
    const d = path.join(root, `d${String((i * 97) % DIRS).padStart(4, "0")}`);
    fs.appendFileSync(path.join(d, "f0.txt"), `change ${round}/${i}\n`);
  }
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-bench-tree-"));
try {
  const src = path.join(base, "src");
  makeTree(src);
  const imzDest = path.join(base, "imz");
  const rsyncDest = path.join(base, "rsync");
  fs.mkdirSync(imzDest);
  fs.mkdirSync(rsyncDest);
  const imz = (): void => void execFileSync(process.execPath, [SYNC, src, imzDest], { stdio: "ignore" });
  const rsync = (): void => void execFileSync("rsync", ["-a", "--delete", "--exclude=.intermezzo", src + "/", rsyncDest + "/"], { stdio: "ignore" });
  execFileSync("sync");
  const rows: Array<[string, number, number]> = [];
  rows.push(["first copy", time(imz), time(rsync)]);
  rows.push(["no-change resync", time(imz), time(rsync)]);
  changeTen(src, 1);
  rows.push(["10 files changed", time(imz), time(rsync)]);
  console.log(`\nbench/sync-tree: ${FILES} files in ${DIRS} directories, ${os.cpus().length} cores\n`);
  console.log("| case | intermezzo-sync | rsync -a --delete | ratio |");
  console.log("|---|---:|---:|---:|");
  for (const [name, a, b] of rows) console.log(`| ${name} | ${a.toFixed(2)} s | ${b.toFixed(2)} s | ${(a / b).toFixed(2)} |`);
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
