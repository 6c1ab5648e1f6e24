/**
 * bench/delta-sync: the delta transfer at sync level. A 256 MiB file is synced between two local
 * directories by `intermezzo-sync` (replica → holder: backfetch as a delta) and by
 * `rsync -a --no-whole-file`, then edited three ways, each edit synced by both: (a) one 1 KiB insert
 * in the middle, (b) 64 scattered 41 KiB overwrites, (c) 2,621 scattered 1 KiB overwrites.
 * intermezzo runs twice per step, on twin trees: as a user runs it between two local trees (the
 * holder in the same process), and with `--transport stdio` (the holder a `serve --stdio` child,
 * speaking the wire protocol as it does over SSH) for the bytes that cross a wire. Reports wall time
 * and wire bytes (rsync `--stats` sent + received; intermezzo `--json` `wire.sent + wire.received`),
 * each also as a ratio to rsync's, the
 * CPU time of each tool's processes, and the load average (the machine may be shared: compare the
 * ratios, measured in the same run; CPU time is the steadier measure under load). For each edit it
 * also times `rdiff signature` of the old version and `rdiff delta` of the new one with the sync's
 * own parameters (MD4, the sync's block length, 4-byte sums): librsync's own cost for the two passes
 * every delta transfer makes, with no transport, hashing, patching or start-up — the floor for any
 * tool built on librsync. rsync is also run with `--fsync` into a third tree: intermezzo makes every
 * file durable before it replaces anything, rsync by default leaves the writes to the page cache.
 *
 * With `--runs=N` the whole sequence runs N times on fresh trees and each cell is the median; with
 * `--baseline=FILE` another build's `intermezzo-sync` (say, the code before a change, built
 * elsewhere) syncs a third twin in the same runs, for a before/after comparison at the same load
 * (before intermezzo-sync in the first, third, … run, after it in the others).
 *
 * With `--warm` every timed run starts with memory freed a moment before (see `warm`).
 *
 *   npm run build && node --import tsx bench/delta-sync.ts [--runs=N] [--baseline=/path/to/bin/intermezzo-sync] [--warm]
 */
import { execFileSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chooseBlockLength } from "../src/sync/delta/index.js";

const SIZE = 256 << 20;
const SYNC = fileURLToPath(new URL("../bin/intermezzo-sync", import.meta.url));

interface Run {
  seconds: number;
  /** CPU seconds (user + system) of the tool's processes: less sensitive to a shared machine's load. */
  cpu: number;
  wire: number;
}

/** CPU seconds used by this process's reaped children (and theirs), from /proc/self/stat. */
function childrenCpu(): number {
  const fields = fs.readFileSync("/proc/self/stat", "utf8").replace(/^.*\) /s, "").split(" ");
  // after the command name: field 3 is state, so cutime (field 16) and cstime (17) are at 13 and 14
  return (Number(fields[13]) + Number(fields[14])) / 100; // clock ticks; USER_HZ is 100 on Linux
}

/**
 * With `--warm`: writes and removes a 320 MiB scratch file, so that the run after it finds that
 * much memory freed a moment ago. On this VM memory not freed in the last few seconds costs about
 * 0.4 s of system time per 256 MiB to fill again; without this, a tool's time depends on what ran
 * just before it (a tool that frees a version's pages at its end leaves them to the next one).
 */
function warm(): void {
  const file = path.join(os.tmpdir(), `imz-bench-warm-${process.pid}`);
  const fd = fs.openSync(file, "w");
  try {
    const zeros = Buffer.alloc(8 << 20);
    for (let n = 0; n < 40; n++) fs.writeSync(fd, zeros);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file);
  }
}

function timed(fn: () => number): Run {
  if (WARM) warm();
  const t = process.hrtime.bigint();
  const c = childrenCpu();
  const wire = fn();
  return { seconds: Number(process.hrtime.bigint() - t) / 1e9, cpu: childrenCpu() - c, wire };
}

function intermezzo(src: string, dest: string, extra: string[] = [], bin = SYNC): number {
  const out = execFileSync(bin, ["--json", ...extra, src, dest], { encoding: "utf8", maxBuffer: 64 << 20 });
  const report = JSON.parse(out.trim().split("\n").at(-1)!) as { wire: { sent: number; received: number } };
  return report.wire.sent + report.wire.received;
}

function rsync(src: string, dest: string, extra: string[] = []): number {
  const out = execFileSync("rsync", ["-a", "--no-whole-file", "--stats", ...extra, "--exclude=.intermezzo", `${src}/`, `${dest}/`], { encoding: "utf8" });
  const num = (label: string): number => Number(/^Total bytes ([a-z]+): ([\d,]+)/m.exec(out.split("\n").find((l) => l.startsWith(label)) ?? "")?.[2]?.replace(/,/g, "") ?? NaN);
  return num("Total bytes sent") + num("Total bytes received");
}

/** `rdiff signature` of `old` then `rdiff delta` of `file`, with the sync's own parameters. */
function rdiffFloor(old: string, file: string, work: string): Run {
  const sig = path.join(work, "floor.sig");
  const delta = path.join(work, "floor.delta");
  const block = String(chooseBlockLength(fs.statSync(old).size));
  const run = timed(() => {
    execFileSync("rdiff", ["-H", "md4", "-R", "rabinkarp", "-b", block, "-S", "4", "signature", old, sig], { stdio: "ignore" });
    execFileSync("rdiff", ["delta", sig, file, delta], { stdio: "ignore" });
    return fs.statSync(sig).size + fs.statSync(delta).size;
  });
  fs.rmSync(sig);
  fs.rmSync(delta);
  return run;
}

function insertMiddle(file: string, n: number): void {
  const data = fs.readFileSync(file);
  const mid = data.length >> 1;
  fs.writeFileSync(file, Buffer.concat([data.subarray(0, mid), randomFillSync(Buffer.alloc(n)), data.subarray(mid)]));
}

function scatter(file: string, count: number, n: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    const size = fs.fstatSync(fd).size;
    for (let i = 0; i < count; i++) fs.writeSync(fd, randomFillSync(Buffer.alloc(n)), 0, n, Math.floor(((i + 0.5) * (size - n)) / count));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * One pass of the four steps on fresh trees: a row per step. With a baseline, odd passes run it
 * after intermezzo-sync rather than before: on this VM the first tool to take memory after a pause
 * pays for it (memory freed a few seconds before is slow to fill again), so a fixed order favours
 * the second.
 */
function pass(index: number): Row[] {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-bench-dsync-"));
  try {
    const src = path.join(base, "src");
    const wireSrc = path.join(base, "src-wire");
    const baselineSrc = path.join(base, "src-baseline");
    const baselineDest = path.join(base, "imz-baseline");
    const imzDest = path.join(base, "imz");
    const wireDest = path.join(base, "imz-wire");
    const rsyncDest = path.join(base, "rsync");
    const fsyncDest = path.join(base, "rsync-fsync");
    for (const d of [src, wireSrc, imzDest, wireDest, rsyncDest, fsyncDest, baselineSrc, baselineDest]) fs.mkdirSync(d);
    const file = path.join(src, "big.bin");
    const fd = fs.openSync(file, "w");
    for (let off = 0; off < SIZE; off += 8 << 20) fs.writeSync(fd, randomFillSync(Buffer.alloc(8 << 20)));
    fs.closeSync(fd);
    const rows: Row[] = [];
    const old = path.join(base, "old.bin");
    const round = (name: string, edit?: () => void): void => {
      if (edit) {
        fs.copyFileSync(file, old);
        edit();
      }
      fs.copyFileSync(file, path.join(wireSrc, "big.bin")); // the twins (rewritten in place, as the edits are)
      if (BASELINE) fs.copyFileSync(file, path.join(baselineSrc, "big.bin"));
      execFileSync("sync");
      const baseline = (): Run | undefined => (BASELINE ? timed(() => intermezzo(baselineSrc, baselineDest, [], BASELINE)) : undefined);
      const first = index % 2 === 0 ? baseline() : undefined;
      execFileSync("sync");
      const ours = timed(() => intermezzo(src, imzDest));
      const before = index % 2 === 0 ? first : baseline();
      const wire = timed(() => intermezzo(wireSrc, wireDest, ["--transport", "stdio"]));
      const theirs = timed(() => rsync(src, rsyncDest));
      execFileSync("sync");
      const durable = timed(() => rsync(src, fsyncDest, ["--fsync"]));
      rows.push([name, ours, wire, theirs, durable, edit ? rdiffFloor(old, file, base) : undefined, before]);
    };
    round("first copy (256 MiB)");
    round("(a) one 1 KiB insert in the middle", () => insertMiddle(file, 1024));
    round("(b) 64 scattered 41 KiB edits", () => scatter(file, 64, 41 << 10));
    round("(c) 2,621 scattered 1 KiB edits", () => scatter(file, 2621, 1 << 10));
    for (const d of [imzDest, wireDest, rsyncDest, fsyncDest, ...(BASELINE ? [baselineDest] : [])]) {
      if (!fs.readFileSync(path.join(d, "big.bin")).equals(fs.readFileSync(file))) throw new Error(`${d} differs from the source`);
    }
    return rows;
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

type Row = [string, Run, Run, Run, Run, Run | undefined, Run | undefined];

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The run whose every field is the median of the runs' (wire bytes are the same in every run). */
function medianRun(runs: Run[]): Run {
  return { seconds: median(runs.map((r) => r.seconds)), cpu: median(runs.map((r) => r.cpu)), wire: median(runs.map((r) => r.wire)) };
}

function option(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}
const RUNS = Number(option("runs") ?? 1);
/** Another build's `intermezzo-sync` (e.g. the code before a change), timed in the same runs. */
const BASELINE = option("baseline");
const WARM = process.argv.includes("--warm");
const loadBefore = os.loadavg().map((l) => l.toFixed(1)).join(" / ");
const passes = Array.from({ length: RUNS }, (_, i) => pass(i));
const mb = (n: number): string => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
const load = os.loadavg().map((l) => l.toFixed(1)).join(" / ");
console.log(`\nbench/delta-sync: 256 MiB file, ${os.cpus().length} cores, ${RUNS === 1 ? "one run" : `median of ${RUNS} runs`}${WARM ? ", each timed run after a warm-up" : ""}, load average ${loadBefore} before, ${load} after (1 / 5 / 15 min)\n`);
console.log(`| case | intermezzo-sync time | intermezzo-sync --transport stdio time | rsync --no-whole-file time | rsync --fsync time | intermezzo CPU | rsync CPU | intermezzo wire (stdio) | rsync wire | rdiff signature + delta time (CPU) |${BASELINE ? " baseline time (CPU) |" : ""}`);
console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|${BASELINE ? "---:|" : ""}`);
const ratio = (x: number, y: number): string => `${(x / y).toFixed(1)}×`;
const rows = passes[0]!.map((row, i): Row => {
  const col = (k: 1 | 2 | 3 | 4): Run => medianRun(passes.map((p) => p[i]![k]));
  const some = (k: 5 | 6): Run | undefined => {
    const runs = passes.map((p) => p[i]![k]).filter((f): f is Run => f !== undefined);
    return runs.length > 0 ? medianRun(runs) : undefined;
  };
  return [row[0], col(1), col(2), col(3), col(4), some(5), some(6)];
});
for (const [name, a, w, b, d, floor, before] of rows) {
  const cells = [
    `${a.seconds.toFixed(2)} s (${ratio(a.seconds, b.seconds)})`,
    `${w.seconds.toFixed(2)} s (${ratio(w.seconds, b.seconds)})`,
    `${b.seconds.toFixed(2)} s`,
    `${d.seconds.toFixed(2)} s`,
    `${a.cpu.toFixed(2)} s (${ratio(a.cpu, b.cpu)})`,
    `${b.cpu.toFixed(2)} s`,
    `${mb(w.wire)} (${((100 * w.wire) / b.wire).toFixed(0)}%)`,
    mb(b.wire),
    floor ? `${floor.seconds.toFixed(2)} s (${floor.cpu.toFixed(2)} s)` : "—",
    ...(before ? [`${before.seconds.toFixed(2)} s (${before.cpu.toFixed(2)} s)`] : []),
  ];
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
if (RUNS > 1) {
  console.log(`\nEach run's wall times, intermezzo-sync / rsync --no-whole-file${BASELINE ? " / baseline" : ""}:`);
  const cell = (r: Row): string => [r[1], r[3], ...(r[6] ? [r[6]] : [])].map((x) => x.seconds.toFixed(2)).join(" / ");
  for (const [i, row] of passes[0]!.entries()) console.log(`  ${row[0]}: ${passes.map((p) => `${cell(p[i]!)} s`).join(", ")}`);
}
