/**
 * bench/memory: peak memory of each side of a sync of many small files (default 1,000,000 of
 * 7 B–4 KB in 10,000 directories, generated here): a first copy, then a no-change resync, run as
 * `intermezzo-sync --transport stdio` so that the replica (the sync's own process) and the holder
 * (its `serve --stdio` child) are separate processes. Each one's peak RSS (`VmHWM`) is read from
 * /proc while it runs. Prints wall time, both peaks and the load average (the machine may be shared).
 *
 *   node --import tsx bench/memory.ts [files] [dirs]
 *   IMZ_SYNC=/other/checkout/bin/intermezzo-sync node --import tsx bench/memory.ts   # another build
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeSmallTree } from "./small-tree.js";

const FILES = Number(process.argv[2] ?? 1_000_000);
const DIRS = Number(process.argv[3] ?? Math.max(1, Math.round(FILES / 100)));
const SYNC = process.env.IMZ_SYNC ?? fileURLToPath(new URL("../bin/intermezzo-sync", import.meta.url));
/** How often the peaks are read (ms); VmHWM is the kernel's own high-water mark, so none is missed. */
const POLL_MS = 200;

/** `VmHWM` of process `pid` in MiB, or undefined once it is gone. */
function peakOf(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Children of process `pid`. */
function childrenOf(pid: number): number[] {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((t) => fs.readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/))
      .filter((s) => s !== "")
      .map(Number);
  } catch {
    return [];
  }
}

/** Runs one sync; returns its wall time and the peak RSS of the replica (this process's child) and of the holder (its child). */
function measure(src: string, dest: string): Promise<{ secs: number; replica: number; holder: number }> {
  const started = process.hrtime.bigint();
  const child = spawn(SYNC, ["--transport", "stdio", src, dest], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const peaks = { replica: 0, holder: 0 };
  const poll = (): void => {
    peaks.replica = Math.max(peaks.replica, peakOf(child.pid!) ?? 0);
    for (const c of childrenOf(child.pid!)) peaks.holder = Math.max(peaks.holder, peakOf(c) ?? 0);
  };
  let polls = 0;
  const timer = setInterval(() => {
    poll();
    // a long run says how it is going (a run stopped early still tells its peaks so far)
    if (++polls % 300 === 0) process.stderr.write(`bench/memory: ${(polls * POLL_MS) / 1000} s: replica ${peaks.replica.toFixed(0)} MiB, holder ${peaks.holder.toFixed(0)} MiB, load ${loadavg()}\n`);
  }, POLL_MS);
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`intermezzo-sync exited ${code}: ${stderr.slice(-2000)}`));
      else resolve({ secs: Number(process.hrtime.bigint() - started) / 1e9, ...peaks });
    });
  });
}

const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(" ");

const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-bench-memory-"));
try {
  const src = path.join(base, "src");
  const dest = path.join(base, "dest");
  const t0 = Date.now();
  makeSmallTree(src, FILES, DIRS, 5);
  fs.mkdirSync(dest);
  process.stderr.write(`bench/memory: ${FILES} files generated in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  const rows: string[] = [];
  for (const name of ["first copy", "no-change resync"]) {
    const load = loadavg();
    const r = await measure(src, dest);
    rows.push(`| ${name} | ${r.secs.toFixed(1)} s | ${r.replica.toFixed(0)} MiB | ${r.holder.toFixed(0)} MiB | ${load} → ${loadavg()} |`);
    process.stderr.write(`bench/memory: ${rows.at(-1)}\n`);
  }
  console.log(`\nbench/memory: ${FILES} files in ${DIRS} directories, --transport stdio, ${os.cpus().length} cores\n`);
  console.log("| case | wall | replica peak RSS | holder peak RSS | load before → after |");
  console.log("|---|---:|---:|---:|---|");
  for (const r of rows) console.log(r);
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
