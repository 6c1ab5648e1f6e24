/**
 * Presto against `bindfs` and the bare directory, and a filtered sync against `rsync`:
 *
 * 1. untar of a 20,000-file tree (about 56 MB), and a 1 GiB sequential write then read (`dd`, 1 MiB
 *    blocks, page cache dropped before the read), each into the directory itself, through `bindfs`
 *    over it, and through `intermezzo mount` over it; times and ratios to the bare directory.
 * 2. A 100,000-file file set, replica and holder both mounted through Presto (so neither is
 *    scanned), 10 files changed through the replica's mount, then one sync; against
 *    `rsync -a --delete` of the same tree with the same 10 changes. Five rounds: the sync in this
 *    process (its own work) and `bin/intermezzo-sync` executed as a user runs it, in turn.
 *
 *   node --import tsx bench/filter.ts [--files 20000] [--gib 1] [--fileset 100000]   (0 skips a part)
 */
import { exec as execCb, execFile as execFileCb, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { isMounted } from "../src/filter/mount.js";
import { LentoServer } from "../src/sync/server.js";
import { syncFileSets, type SyncOptions } from "../src/sync/sync.js";
import { randomBytes, rng, tempDir } from "../test/helpers/tree.js";
import { startMount, stopMount } from "../test/filter/fuse-helpers.js";

const exec = promisify(execCb);
const execFile = promisify(execFileCb);
const { values: args } = parseArgs({
  options: { files: { type: "string", default: "20000" }, gib: { type: "string", default: "1" }, fileset: { type: "string", default: "100000" } },
});
/** Rounds of the filtered sync (each form) and of rsync. */
const SYNC_ROUNDS = 5;
const SYNC_BIN = fileURLToPath(new URL("../bin/intermezzo-sync", import.meta.url));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const SYNC: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: true, replicaIsSrc: true };

/** Seconds taken by `fn`. */
async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function sh(cmd: string): Promise<void> {
  await exec(cmd, { maxBuffer: 16 << 20 });
}

/** Writes `n` files of ~2.8 KiB on average into directories of 100. */
function makeTree(root: string, n: number, seed: number): void {
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    const dir = path.join(root, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${i}`), randomBytes(Math.floor(r() * 5600), seed + i));
  }
}

/** A target directory to write through: bare, bindfs over it, or intermezzo over it. */
interface Target {
  name: string;
  /** Mounts (if needed) over a fresh directory; returns the path to write to and an unmount. */
  setup(dir: string, mnt: string): Promise<{ at: string; done: () => Promise<void> }>;
}

const TARGETS: Target[] = [
  { name: "directory", setup: async (dir) => ({ at: dir, done: async () => undefined }) },
  {
    name: "bindfs",
    setup: async (dir, mnt) => {
      await execFile("bindfs", ["--no-allow-other", dir, mnt]);
      return { at: mnt, done: () => unmount(mnt) };
    },
  },
  {
    name: "intermezzo",
    setup: async (dir, mnt) => {
      await execFile(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, "../test/filter/cli-main.ts"), "init", dir]);
      const child = await startMount(dir, mnt);
      return { at: mnt, done: () => stopMount(child, mnt) };
    },
  },
];

async function unmount(mnt: string): Promise<void> {
  if (isMounted(mnt)) await execFile("fusermount", ["-u", mnt]);
}

/** Runs `work` against each target on fresh directories; returns seconds per target. */
async function perTarget(label: string, work: (at: string) => Promise<number>): Promise<void> {
  const times: number[] = [];
  for (const t of TARGETS) {
    const dir = tempDir("imz-bench-dir-");
    const mnt = tempDir("imz-bench-mnt-");
    const m = await t.setup(dir, mnt);
    try {
      times.push(await work(m.at));
    } finally {
      await m.done();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  }
  const base = times[0]!;
  console.log(`${label}: ` + TARGETS.map((t, i) => `${t.name} ${times[i]!.toFixed(2)} s (${(times[i]! / base).toFixed(1)}x)`).join(", "));
}

async function dropCaches(): Promise<void> {
  await sh("sync; echo 3 > /proc/sys/vm/drop_caches").catch(() => undefined);
}

async function filterBench(work: string): Promise<void> {
  const files = Number(args.files);
  makeTree(path.join(work, "tree"), files, 1);
  const tarball = path.join(work, "tree.tar");
  await sh(`tar -cf ${tarball} -C ${work}/tree .`);
  const mb = fs.statSync(tarball).size / 1e6;
  await perTarget(`untar ${files} files (${mb.toFixed(0)} MB)`, (at) => time(() => sh(`tar -xf ${tarball} -C ${at}`)));
  const gib = Number(args.gib);
  if (gib <= 0) return;
  const count = gib * 1024;
  const mbps = (s: number): string => `${((gib * 1024 * 1048576) / 1e6 / s).toFixed(0)} MB/s`;
  const rw: Array<[string, number, number]> = [];
  for (const t of TARGETS) {
    const dir = tempDir("imz-bench-dir-");
    const mnt = tempDir("imz-bench-mnt-");
    const m = await t.setup(dir, mnt);
    try {
      const w = await time(() => sh(`dd if=/dev/zero of=${m.at}/big bs=1M count=${count} status=none`));
      await dropCaches();
      const r = await time(() => sh(`dd if=${m.at}/big of=/dev/null bs=1M status=none`));
      rw.push([t.name, w, r]);
    } finally {
      await m.done();
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  }
  console.log(`${gib} GiB sequential write: ` + rw.map(([n, w]) => `${n} ${w.toFixed(2)} s ${mbps(w)} (${(w / rw[0]![1]).toFixed(1)}x)`).join(", "));
  console.log(`${gib} GiB sequential read:  ` + rw.map(([n, , r]) => `${n} ${r.toFixed(2)} s ${mbps(r)} (${(r / rw[0]![2]).toFixed(1)}x)`).join(", "));
}

async function syncBench(work: string): Promise<void> {
  const n = Number(args.fileset);
  const replica = path.join(work, "replica");
  const holder = path.join(work, "holder");
  makeTree(replica, n, 2);
  fs.mkdirSync(holder);
  const first = await time(() => syncFileSets(replica, new LentoServer(holder, { owner: true }), SYNC));
  console.log(`first sync of ${n} files (setup): ${first.toFixed(1)} s`);
  const copyA = path.join(work, "rsync-src");
  const copyB = path.join(work, "rsync-dst");
  await sh(`mkdir -p ${copyA} && cp -a ${replica}/. ${copyA}`);
  await sh(`rm -rf ${copyA}/.intermezzo && rsync -a --delete ${copyA}/ ${copyB}/`);
  const rmnt = tempDir("imz-bench-rmnt-");
  const hmnt = tempDir("imz-bench-hmnt-");
  const children: Array<[ChildProcess, string]> = [];
  try {
    children.push([await startMount(holder, hmnt), hmnt]);
    children.push([await startMount(replica, rmnt), rmnt]);
    const step = Math.floor(n / 10);
    const change = (root: string, round: number): Promise<void> =>
      sh(Array.from({ length: 10 }, (_, i) => `echo change >> ${root}/d${Math.floor((i * step + round) / 100)}/f${i * step + round}`).join(" && "));
    const t = { inProcess: [] as number[], cli: [] as number[], rsync: [] as number[] };
    const load = os.loadavg()[0]!.toFixed(2);
    for (let round = 0; round < 2 * SYNC_ROUNDS; round++) {
      await change(rmnt, round);
      if (round % 2 === 0) {
        let report: Awaited<ReturnType<typeof syncFileSets>> | undefined;
        t.inProcess.push(await time(async () => (report = await syncFileSets(replica, new LentoServer(holder, { owner: true }), SYNC))));
        if (round === 0) console.log(`  sync report: ${JSON.stringify({ scanned: report?.scanned, shipped: report?.recordsShipped, applied: report?.recordsApplied, filesSent: report?.filesSent, ms: report?.durationMs })}`);
      } else {
        t.cli.push(await time(() => execFile(SYNC_BIN, [replica, holder])));
      }
      await change(copyA, round);
      t.rsync.push(await time(() => sh(`rsync -a --delete ${copyA}/ ${copyB}/`)));
    }
    const rsync = median(t.rsync);
    const cell = (xs: number[]): string => `${median(xs).toFixed(3)} s (${(median(xs) / rsync).toFixed(3)}×)`;
    console.log(
      `sync after 10 changes in ${n} files, both sides filtered, medians of ${SYNC_ROUNDS} (load ${load} → ${os.loadavg()[0]!.toFixed(2)}): ` +
        `in process ${cell(t.inProcess)}, bin/intermezzo-sync ${cell(t.cli)}, rsync -a --delete ${rsync.toFixed(3)} s`,
    );
  } finally {
    for (const [child, mnt] of children.reverse()) await stopMount(child, mnt);
    fs.rmSync(rmnt, { recursive: true, force: true });
    fs.rmSync(hmnt, { recursive: true, force: true });
  }
}

const work = tempDir("imz-bench-filter-");
try {
  if (Number(args.files) > 0) await filterBench(work);
  if (Number(args.fileset) > 0) await syncBench(work);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
