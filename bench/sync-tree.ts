/**
 * bench/sync-tree: a tree of small files (default 30,000 of 7 B–4 KB in 300 directories) synced by
 * `intermezzo-sync`, `rsync -a --delete` and `unison -batch`, each into its own destination, in the
 * same run: a first copy, a no-change resync, and a resync after 10 files changed (the median of
 * three runs each). Prints each time, the ratio to rsync, intermezzo's peak RSS, the load average around each row (the machine
 * may be shared), and the start-up cost: `intermezzo-sync --help` against `node -e 0`, paired runs.
 * `intermezzo-sync` is executed as a user's shell or cron runs it (its `#!` launcher, which starts
 * Node without `NODE_EXTRA_CA_CERTS`), not as `node bin/intermezzo-sync`.
 *
 *   node --import tsx bench/sync-tree.ts [files] [dirs]
 *   IMZ_SYNC=/other/checkout/bin/intermezzo-sync node --import tsx bench/sync-tree.ts   # another build
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeSmallTree } from "./small-tree.js";

const FILES = Number(process.argv[2] ?? 30_000);
const DIRS = Number(process.argv[3] ?? Math.max(1, Math.round(FILES / 100)));
/** The `intermezzo-sync` to measure: this checkout's, or another build's (`IMZ_SYNC=/path/bin/intermezzo-sync`). */
const SYNC = process.env.IMZ_SYNC ?? fileURLToPath(new URL("../bin/intermezzo-sync", import.meta.url));
const GNU_TIME = "/usr/bin/time";
const STARTUP_PAIRS = 21;
/** Runs of each resync case (the median is shown; the machine may be busy). */
const ROUNDS = 3;

/** Seconds `fn` took. */
function time(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function changeTen(root: string, round: number): void {
  for (let i = 0; i < 10; i++) {
    const d = path.join(root, `d${String((i * 97) % DIRS).padStart(4, "0")}`);
    fs.appendFileSync(path.join(d, "f0.txt"), `change ${round}/${i}\n`);
  }
}

/** Runs a command to completion, throwing on failure; with GNU time, returns the peak RSS in MiB. */
function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number | undefined {
  const timed = fs.existsSync(GNU_TIME);
  const r = timed
    ? spawnSync(GNU_TIME, ["-f", "maxrss %M", cmd, ...args], { env, encoding: "utf8", maxBuffer: 1 << 26 })
    : spawnSync(cmd, args, { env, encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const m = /maxrss (\d+)/.exec(r.stderr ?? "");
  return m ? Number(m[1]) / 1024 : undefined;
}

const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(" ");
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Median wall time of `node -e 0` and of `intermezzo-sync --help`, in pairs (each first in half of them). */
function startup(): { node: number; help: number; ratio: number } {
  const node: number[] = [];
  const help: number[] = [];
  const ratios: number[] = [];
  const nodeRun = (): number => time(() => execFileSync(process.execPath, ["-e", "0"], { stdio: "ignore" }));
  const helpRun = (): number => time(() => execFileSync(SYNC, ["--help"], { stdio: "ignore" }));
  for (let i = 0; i < STARTUP_PAIRS; i++) {
    // the first of two back-to-back runs tends to be the slower: alternate which goes first
    let a: number;
    let b: number;
    if (i % 2 === 0) {
      a = nodeRun();
      b = helpRun();
    } else {
      b = helpRun();
      a = nodeRun();
    }
    node.push(a);
    help.push(b);
    ratios.push(b / a);
  }
  return { node: median(node), help: median(help), ratio: median(ratios) };
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-bench-tree-"));
try {
  const src = path.join(base, "src");
  makeSmallTree(src, FILES, DIRS);
  const dest = { imz: path.join(base, "imz"), rsync: path.join(base, "rsync"), unison: path.join(base, "unison") };
  for (const d of Object.values(dest)) fs.mkdirSync(d);
  const unisonHome = path.join(base, "unison-archive");
  fs.mkdirSync(unisonHome);
  const hasUnison = spawnSync("unison", ["-version"]).status === 0;
  const tools = {
    imz: () => run(SYNC, [src, dest.imz]),
    rsync: () => run("rsync", ["-a", "--delete", "--exclude=.intermezzo", src + "/", dest.rsync + "/"]),
    unison: () =>
      run("unison", [src, dest.unison, "-batch", "-silent", "-times", "-owner", "-group", "-ignore", "Name .intermezzo"], { ...process.env, UNISON: unisonHome }),
  };
  execFileSync("sync");
  interface Row {
    name: string;
    imz: number;
    rsync: number;
    unison?: number;
    rss?: number;
    load: string;
  }
  const rows: Row[] = [];
  /** Runs every tool `rounds` times (after `before(round)`); keeps each tool's median and intermezzo's largest RSS. */
  const measure = (name: string, rounds: number, before: (round: number) => void = () => undefined): void => {
    const load = loadavg();
    const t = { imz: [] as number[], rsync: [] as number[], unison: [] as number[] };
    let rss = 0;
    for (let round = 0; round < rounds; round++) {
      before(round);
      t.imz.push(time(() => (rss = Math.max(rss, tools.imz() ?? 0))));
      t.rsync.push(time(() => tools.rsync()));
      if (hasUnison) t.unison.push(time(() => tools.unison()));
    }
    const unison = hasUnison ? median(t.unison) : undefined;
    rows.push({ name, imz: median(t.imz), rsync: median(t.rsync), unison, rss: rss || undefined, load: `${load} → ${loadavg()}` });
  };
  measure("first copy", 1);
  measure(`no-change resync (median of ${ROUNDS})`, ROUNDS);
  measure(`10 files changed (median of ${ROUNDS})`, ROUNDS, (round) => changeTen(src, round));
  const s = startup();

  const secs = (v: number | undefined): string => (v === undefined ? "—" : `${v.toFixed(2)} s`);
  const ratio = (v: number | undefined, r: number): string => (v === undefined ? "—" : (v / r).toFixed(2));
  console.log(`\nbench/sync-tree: ${FILES} files in ${DIRS} directories, ${os.cpus().length} cores, load average (1/5/15 min) given per row; NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS === undefined ? "unset" : "set"}\n`);
  console.log("| case | intermezzo-sync | rsync -a --delete | unison -batch | intermezzo / rsync | unison / rsync | intermezzo peak RSS | load before → after |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---|");
  for (const r of rows) {
    const rss = r.rss === undefined ? "—" : `${r.rss.toFixed(0)} MiB`;
    console.log(`| ${r.name} | ${secs(r.imz)} | ${secs(r.rsync)} | ${secs(r.unison)} | ${ratio(r.imz, r.rsync)} | ${ratio(r.unison, r.rsync)} | ${rss} | ${r.load} |`);
  }
  console.log(
    `\nstart-up (${STARTUP_PAIRS} paired runs, medians): node -e 0 ${(s.node * 1000).toFixed(0)} ms, ` +
      `intermezzo-sync --help ${(s.help * 1000).toFixed(0)} ms, ratio ${s.ratio.toFixed(2)} (load ${loadavg()})`,
  );
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
