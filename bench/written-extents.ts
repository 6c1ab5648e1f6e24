/**
 * bench/written-extents: files changed in place through the Presto mount (issue 13, item 4). A
 * 1 GiB file in a replica is synced to its holder, the replica is mounted, and the file is changed
 * through the mount two ways: (1) an append-only log gaining 1 MiB at its end, (2) a 4 KiB
 * overwrite in place in the middle. Each change is synced by `intermezzo-sync` from the replica's
 * holding location to the holder — once as a user runs it between two local trees (the holder in
 * the same process), once more (after the same change again) with `--transport stdio` (the holder a
 * `serve --stdio` child, the wire protocol as over SSH) for the bytes that cross a wire — and by
 * `rsync -a --no-whole-file` into a third tree, measured in the same run, after each change.
 * Beside each tool's wall time: the sync's own duration as `--json` reports it (without the Node
 * process's start-up, which is most of a small sync's time on a loaded machine).
 * Reports wall time, CPU time of each tool's processes, wire bytes (rsync `--stats` sent +
 * received; intermezzo `--json` `wire.sent + wire.received`) and the load average: the machine may
 * be shared, compare the ratios. The trees are checked equal (BLAKE2b of the file) at the end.
 *
 *   npm run build && node --import tsx bench/written-extents.ts [--runs=N]
 */
import { execFileSync, spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hashFile } from "../src/journal/content-hash.js";

const SIZE = 1 << 30;
const MiB = 1 << 20;
const SYNC = fileURLToPath(new URL("../bin/intermezzo-sync", import.meta.url));
const IMZ = fileURLToPath(new URL("../bin/intermezzo", import.meta.url));

interface Run {
  seconds: number;
  cpu: number;
  wire: number;
  /** intermezzo only: file bytes moved (`bytesSent` + `bytesReceived`: the ranges, or a delta and its signature). */
  moved?: number;
  /** intermezzo only: the sync's own duration as it reports it (`durationMs`: no process start-up). */
  inside?: number;
}

/** CPU seconds used by this process's reaped children (and theirs), from /proc/self/stat. */
function childrenCpu(): number {
  const fields = fs.readFileSync("/proc/self/stat", "utf8").replace(/^.*\) /s, "").split(" ");
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

function timed(fn: () => Omit<Run, "seconds" | "cpu">): Run {
  const t = process.hrtime.bigint();
  const c = childrenCpu();
  const r = fn();
  return { seconds: Number(process.hrtime.bigint() - t) / 1e9, cpu: childrenCpu() - c, ...r };
}

function intermezzo(src: string, dest: string, extra: string[] = []): Omit<Run, "seconds" | "cpu"> {
  const out = execFileSync(SYNC, ["--json", ...extra, src, dest], { encoding: "utf8", maxBuffer: 64 << 20 });
  const r = JSON.parse(out.trim().split("\n").at(-1)!) as {
    wire: { sent: number; received: number };
    bytesSent: number;
    bytesReceived: number;
    problems: unknown[];
    durationMs: number;
  };
  if (r.problems.length > 0) throw new Error(`intermezzo-sync reported problems: ${JSON.stringify(r.problems)}`);
  return { wire: r.wire.sent + r.wire.received, moved: r.bytesSent + r.bytesReceived, inside: r.durationMs / 1000 };
}

function rsync(src: string, dest: string): Omit<Run, "seconds" | "cpu"> {
  const out = execFileSync("rsync", ["-a", "--no-whole-file", "--stats", "--exclude=.intermezzo", `${src}/`, `${dest}/`], { encoding: "utf8" });
  const num = (label: string): number => Number(/^Total bytes ([a-z]+): ([\d,]+)/m.exec(out.split("\n").find((l) => l.startsWith(label)) ?? "")?.[2]?.replace(/,/g, "") ?? NaN);
  return { wire: num("Total bytes sent") + num("Total bytes received") };
}

/** Mounts `dir` at `mnt` through Presto (a foreground child); resolves with a function that unmounts it. */
async function mount(dir: string, mnt: string): Promise<() => Promise<void>> {
  const child = spawn(process.execPath, [IMZ, "mount", "--foreground", dir, mnt], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => d.toString().startsWith("mounted") && resolve());
    child.once("exit", (code) => reject(new Error(`intermezzo mount exited ${String(code)}`)));
  });
  return async () => {
    const exited = new Promise((r) => child.once("exit", r));
    execFileSync("fusermount", ["-u", mnt]);
    await exited;
  };
}

/** Appends `n` random bytes to `file` (one open, 128 KiB writes, one close: a log's writer). */
function append(file: string, n: number): void {
  const fd = fs.openSync(file, "a");
  try {
    for (let done = 0; done < n; done += 128 << 10) fs.writeSync(fd, randomFillSync(Buffer.alloc(Math.min(128 << 10, n - done))));
  } finally {
    fs.closeSync(fd);
  }
}

function overwrite(file: string, at: number, n: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, randomFillSync(Buffer.alloc(n)), 0, n, at);
  } finally {
    fs.closeSync(fd);
  }
}

type Row = [string, Run, Run, Run];

/** One pass on fresh trees: a row per change. */
async function pass(): Promise<Row[]> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-bench-extents-"));
  let unmount: (() => Promise<void>) | undefined;
  try {
    const [replica, holder, theirs, mnt] = ["replica", "holder", "rsync", "mnt"].map((d) => path.join(base, d));
    for (const d of [replica, holder, theirs, mnt]) fs.mkdirSync(d);
    const file = path.join(replica, "app.log");
    const fd = fs.openSync(file, "w");
    for (let off = 0; off < SIZE; off += 8 * MiB) fs.writeSync(fd, randomFillSync(Buffer.alloc(8 * MiB)));
    fs.closeSync(fd);
    intermezzo(replica, holder);
    rsync(replica, theirs);
    unmount = await mount(replica, mnt);
    const through = path.join(mnt, "app.log");
    const rows: Row[] = [];
    const round = (name: string, change: () => void): void => {
      change();
      execFileSync("sync");
      const ours = timed(() => intermezzo(replica, holder));
      const rs = timed(() => rsync(replica, theirs));
      change();
      execFileSync("sync");
      const wire = timed(() => intermezzo(replica, holder, ["--transport", "stdio"]));
      rsync(replica, theirs);
      rows.push([name, ours, wire, rs]);
    };
    round("(1) 1 GiB log + 1 MiB appended", () => append(through, MiB));
    round("(2) 4 KiB overwritten in place", () => overwrite(through, SIZE / 2 + 12345, 4096));
    await unmount();
    unmount = undefined;
    const want = await hashFile(file);
    for (const d of [holder, theirs]) if ((await hashFile(path.join(d, "app.log"))) !== want) throw new Error(`${d} differs from the replica`);
    return rows;
  } finally {
    await unmount?.();
    fs.rmSync(base, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const RUNS = Number(process.argv.find((a) => a.startsWith("--runs="))?.slice(7) ?? 1);
const loadBefore = os.loadavg().map((l) => l.toFixed(1)).join(" / ");
const passes: Row[][] = [];
for (let i = 0; i < RUNS; i++) passes.push(await pass());
const load = os.loadavg().map((l) => l.toFixed(1)).join(" / ");
const size = (n: number): string => (n >= MiB ? `${(n / MiB).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`);
const col = (i: number, k: 1 | 2 | 3, f: (r: Run) => number): number => median(passes.map((p) => f(p[i]![k])));
console.log(`\nbench/written-extents: 1 GiB file changed through the Presto mount, ${os.cpus().length} cores, ${RUNS === 1 ? "one run" : `median of ${RUNS} runs`}, load average ${loadBefore} before, ${load} after (1 / 5 / 15 min)\n`);
console.log("| change | intermezzo-sync time | its own duration | --transport stdio time | rsync --no-whole-file time | intermezzo CPU | rsync CPU | intermezzo wire (stdio) | rsync wire |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const [i, [name]] of passes[0]!.entries()) {
  const rs = col(i, 3, (r) => r.seconds);
  const cells = [
    `${col(i, 1, (r) => r.seconds).toFixed(3)} s (${(col(i, 1, (r) => r.seconds) / rs).toFixed(3)}×)`,
    `${col(i, 1, (r) => r.inside ?? NaN).toFixed(3)} s`,
    `${col(i, 2, (r) => r.seconds).toFixed(3)} s (${(col(i, 2, (r) => r.seconds) / rs).toFixed(3)}×)`,
    `${rs.toFixed(3)} s`,
    `${col(i, 1, (r) => r.cpu).toFixed(2)} s`,
    `${col(i, 3, (r) => r.cpu).toFixed(2)} s`,
    size(col(i, 2, (r) => r.wire)),
    size(col(i, 3, (r) => r.wire)),
  ];
  console.log(`| ${name} | ${cells.join(" | ")} |`);
}
if (RUNS > 1) {
  console.log("\nEach run's wall times, intermezzo-sync / stdio / rsync:");
  for (const [i, [name]] of passes[0]!.entries()) console.log(`  ${name}: ${passes.map((p) => [1, 2, 3].map((k) => p[i]![k as 1]!.seconds.toFixed(3)).join(" / ")).join(", ")}`);
}
