/**
 * bench/live: propagation latency of live replicas (`intermezzo-sync --watch`). A complete file is
 * renamed into replica A (written beside the tree first, so it appears whole); the clock stops when
 * replica B has it with its full content. p50 and p99 over N files (default 100), sequentially,
 * with the replicas' watcher journaling: two replicas of a local holder (each process runs the
 * holder in-process; they learn of each other's records through the holder's log), then the same
 * with 10 replicas attached. Prints the load average with the table.
 *
 *   node --import tsx bench/live.ts [files] [replicas]
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const FILES = Number(process.argv[2] ?? 100);
const MANY = Number(process.argv[3] ?? 10);
const SYNC = fileURLToPath(new URL("../bin/intermezzo-sync", import.meta.url));

function startWatch(replica: string, holder: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [SYNC, "--watch", replica, holder], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (b: Buffer) => {
      log += b.toString();
      if (/ live\n/.test(log)) resolve(child);
    });
    child.once("exit", (code) => reject(new Error(`--watch exited (${code}):\n${log}`)));
  });
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null) return r();
          c.once("exit", () => r());
          process.kill(c.pid!, "SIGTERM");
        }),
    ),
  );
}

/** Milliseconds from the rename in `a` until `b` has the file's full content, for each file. */
async function measure(a: string, b: string, staging: string, tag: string): Promise<number[]> {
  const out: number[] = [];
  fs.mkdirSync(path.join(a, "in"), { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const body = `${tag} file ${i} `.repeat(200);
    const tmp = path.join(staging, `${tag}-${i}`);
    fs.writeFileSync(tmp, body);
    const target = path.join(b, "in", `${tag}-${i}.txt`);
    const t0 = process.hrtime.bigint();
    fs.renameSync(tmp, path.join(a, "in", `${tag}-${i}.txt`));
    for (;;) {
      try {
        if (fs.readFileSync(target, "utf8") === body) break;
      } catch {
        // not there yet
      }
      await new Promise((r) => setImmediate(r));
    }
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await new Promise((r) => setTimeout(r, 20));
  }
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-bench-live-"));
const children: ChildProcess[] = [];
try {
  const staging = path.join(base, "staging");
  fs.mkdirSync(staging);
  const rows: Array<[string, number[]]> = [];
  const run = async (name: string, replicas: number, tag: string): Promise<void> => {
    const holder = path.join(base, `${tag}-holder`);
    fs.mkdirSync(holder);
    const rs = Array.from({ length: replicas }, (_, i) => path.join(base, `${tag}-r${i}`));
    for (const r of rs) {
      fs.mkdirSync(r);
      children.push(await startWatch(r, holder));
    }
    rows.push([name, await measure(rs[0]!, rs[1]!, staging, tag)]);
    await stop(children.splice(0));
  };
  await run("watcher, 2 replicas of a local holder", 2, "two");
  await run(`watcher, ${MANY} replicas attached`, MANY, "many");
  const load = os.loadavg().map((l) => l.toFixed(2)).join(" ");
  console.log(`\nbench/live: ${FILES} files renamed into replica A, time until replica B has each; ${os.cpus().length} cores, load average ${load}\n`);
  console.log("| case | p50 | p99 | max |");
  console.log("|---|---:|---:|---:|");
  for (const [name, xs] of rows) console.log(`| ${name} | ${pct(xs, 50).toFixed(0)} ms | ${pct(xs, 99).toFixed(0)} ms | ${Math.max(...xs).toFixed(0)} ms |`);
} finally {
  await stop(children);
  fs.rmSync(base, { recursive: true, force: true });
}
