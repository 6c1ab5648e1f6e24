/**
 * bench/fan-out: one master mirrored to N replicas (default 10), the cron job of a web farm. Times
 * the N mirror runs one after another and all at once (the holder serving every replica
 * concurrently), for a first copy and after M files changed on the master, beside `rsync -a --delete`
 * to the same N directories one after another and at once, measured in the same run. Prints the
 * machine's load average with the table.
 *
 *   node --import tsx bench/fan-out.ts [replicas] [files] [changed]
 */
import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const REPLICAS = Number(process.argv[2] ?? 10);
const FILES = Number(process.argv[3] ?? 5_000);
const CHANGED = Number(process.argv[4] ?? 20);
const SYNC = fileURLToPath(new URL("../bin/intermezzo-sync", import.meta.url));
const run = promisify(execFile);

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function makeTree(root: string): void {
  for (let n = 0; n < FILES; n++) {
    const dir = path.join(root, `d${n % 50}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `f${n}.html`), `<p>page ${n}</p>`.repeat(1 + (n % 200)));
  }
}

function change(root: string, round: number): void {
  for (let i = 0; i < CHANGED; i++) fs.appendFileSync(path.join(root, `d${i % 50}`, `f${i}.html`), `<p>edit ${round}</p>`);
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-bench-fanout-"));
try {
  const master = path.join(base, "master");
  makeTree(master);
  const dests = (kind: string): string[] =>
    Array.from({ length: REPLICAS }, (_, i) => {
      const d = path.join(base, `${kind}${i}`);
      fs.mkdirSync(d, { recursive: true });
      return d;
    });
  const imzSeq = dests("seq");
  const imzPar = dests("par");
  const rsSeq = dests("rseq");
  const rsPar = dests("rpar");
  const imz = (d: string): Promise<unknown> => run(SYNC, ["--mirror", master, d]);
  const rsync = (d: string): Promise<unknown> => run("rsync", ["-a", "--delete", "--exclude=.intermezzo", `${master}/`, `${d}/`]);
  const oneByOne = (f: (d: string) => Promise<unknown>, ds: string[]) => async () => {
    for (const d of ds) await f(d);
  };
  const atOnce = (f: (d: string) => Promise<unknown>, ds: string[]) => () => Promise.all(ds.map(f));
  execFileSync("sync");
  const rows: Array<[string, number, number, number, number]> = [];
  const round = async (name: string): Promise<void> => {
    rows.push([name, await time(oneByOne(imz, imzSeq)), await time(atOnce(imz, imzPar)), await time(oneByOne(rsync, rsSeq)), await time(atOnce(rsync, rsPar))]);
  };
  await round("first copy");
  change(master, 1);
  await round(`${CHANGED} files changed`);
  await round("no change");
  for (const d of [...imzSeq, ...imzPar]) {
    const diff = execFileSync("diff", ["-r", "-q", "-x", ".intermezzo", master, d], { encoding: "utf8" });
    if (diff !== "") throw new Error(`${d} differs from the master:\n${diff}`);
  }
  const load = os.loadavg().map((l) => l.toFixed(2)).join(" ");
  console.log(`\nbench/fan-out: 1 master, ${REPLICAS} mirrors, ${FILES} files; ${os.cpus().length} cores, load average ${load}\n`);
  console.log("| case | intermezzo one by one | intermezzo at once | at once / one by one | rsync one by one | rsync at once |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [name, s, p, rs, rp] of rows) {
    console.log(`| ${name} | ${s.toFixed(2)} s | ${p.toFixed(2)} s | ${(p / s).toFixed(2)} | ${rs.toFixed(2)} s | ${rp.toFixed(2)} s |`);
  }
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
