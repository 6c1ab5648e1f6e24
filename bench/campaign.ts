/**
 * bench/campaign: the fault campaign of issue 14, repeatable. Each round makes a replica and a holder
 * that have synced once, then edits both (new, changed and deleted files, large and small, and
 * update/update conflicts on some), and runs `intermezzo-sync --policy both` while a fault hits it:
 *
 * - `kill`: the sync (and its `serve --stdio` child) gets SIGKILL at a random moment;
 * - `cut`: the sync runs over SSH (a real sshd on loopback) through a relay that resets the TCP
 *   connection after a random number of bytes, up or down.
 *
 * Then the sync is rerun (no fault) until it settles, and the round is checked: converged (the two
 * trees' manifests are equal and one more sync has nothing to do), versions lost (the last version
 * each side wrote of a file is in neither tree nor in either side's `.intermezzo/conflicts/` store),
 * torn files (a file whose bytes are none of the versions ever written).
 *
 *   npm run build && node --import tsx bench/campaign.ts [--rounds N] [--kind kill|cut|both]
 *
 * Not part of `npm test`. Prints rounds, kills/cuts landed, converged, versions lost, torn files, and
 * the load average (the machine may be shared).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SYNC_BIN } from "../test/helpers/cli.js";
import { startRelay } from "../test/helpers/relay.js";
import { REMOTE_SERVE, clientHome } from "../test/helpers/remote.js";
import { startSshd, type TestSshd } from "../test/helpers/sshd.js";
import { manifest, rng, tempDir } from "../test/helpers/tree.js";

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf("--rounds") + 1] || 10) || 10;
const KIND = args.includes("--kind") ? args[args.indexOf("--kind") + 1]! : "both";

interface Outcome {
  landed: boolean;
  converged: boolean;
  lost: string[];
  torn: string[];
}

/**
 * Every content ever written in a round, and the edits made while the two sides were apart (the
 * last one each side wrote per path): each of those must survive, in a tree or in a conflict store.
 */
class Versions {
  readonly all = new Set<string>();
  readonly edits = new Map<string, string>();
  write(root: string, side: string, rel: string, content: Buffer, edit = true): void {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content);
    const h = sha(content);
    this.all.add(h);
    if (edit) this.edits.set(`${side}:${rel}`, h);
  }
}

function sha(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Hashes of every regular file under `dir` (`.intermezzo/conflicts/` included when asked). */
function hashesUnder(dir: string, withStore: boolean): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name === ".intermezzo" && d === dir) {
          const store = path.join(p, "conflicts");
          if (withStore && fs.existsSync(store)) walk(store);
          continue;
        }
        walk(p);
      } else if (e.isFile() && e.name !== "record.json") out.set(p, sha(fs.readFileSync(p)));
    }
  };
  walk(dir);
  return out;
}

/** A file's content for round `seed`: sizes from a few bytes to 2 MiB. */
function content(r: () => number, label: string): Buffer {
  const size = r() < 0.15 ? 256 * 1024 + Math.floor(r() * 2 * 1024 * 1024) : 1 + Math.floor(r() * 4000);
  const head = Buffer.from(`${label}\n`);
  const body = Buffer.alloc(Math.max(0, size - head.length), label.length % 251);
  for (let i = 0; i < body.length; i += 4096) body[i] = Math.floor(r() * 256);
  return Buffer.concat([head, body]);
}

/** Runs a sync in its own process group; kills the group after `killAfterMs` (if given). Waits until the group is gone. */
async function runSync(argv: string[], env: NodeJS.ProcessEnv, killAfterMs?: number): Promise<{ code: number; killed: boolean; out: string }> {
  const child = spawn(process.execPath, [SYNC_BIN, "--policy", "both", ...argv], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  let exited = false;
  const closed = new Promise<number>((resolve) => child.on("close", (c) => ((exited = true), resolve(c ?? -1))));
  let killed = false;
  if (killAfterMs !== undefined) {
    await Promise.race([closed, new Promise((r) => setTimeout(r, killAfterMs))]);
    if (!exited) {
      killed = true;
      process.kill(-child.pid!, "SIGKILL");
    }
  }
  const code = await closed;
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(-child.pid!, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { code, killed, out };
}

/**
 * One round: set up, fault, reruns, checks. `argv` gives a fault-free sync's arguments; `fault` runs
 * the faulty sync and says whether the fault landed.
 */
async function round(seed: number, argv: (replica: string, holder: string) => string[], fault: (replica: string, holder: string) => Promise<boolean>, env: NodeJS.ProcessEnv): Promise<Outcome> {
  const r = rng(seed);
  const replica = tempDir("imz-campaign-r-");
  const holder = tempDir("imz-campaign-h-");
  const v = new Versions();
  try {
    for (let i = 0; i < 60; i++) v.write(replica, "r", `d${i % 6}/f${i}`, content(r, `base ${seed} ${i}`), false);
    const first = await runSync(argv(replica, holder), env);
    if (first.code !== 0) throw new Error(`round ${seed}: the first sync failed: ${first.out}`);
    for (let i = 0; i < 60; i++) {
      const p = r();
      if (p < 0.3) v.write(replica, "r", `d${i % 6}/f${i}`, content(r, `replica ${seed} ${i}`));
      if (p > 0.2 && p < 0.4) v.write(holder, "h", `d${i % 6}/f${i}`, content(r, `holder ${seed} ${i}`)); // 0.2–0.3: both
      if (p > 0.95) fs.rmSync(path.join(replica, `d${i % 6}/f${i}`), { force: true });
    }
    for (let i = 0; i < 15; i++) v.write(replica, "r", `new/n${i}`, content(r, `new ${seed} ${i}`));
    for (let i = 0; i < 5; i++) v.write(holder, "h", `hnew/n${i}`, content(r, `hnew ${seed} ${i}`));
    const landed = await fault(replica, holder);
    let settled = false;
    for (let rerun = 0; rerun < 5 && !settled; rerun++) settled = [0, 3].includes((await runSync(argv(replica, holder), env)).code);
    const quiet = (await runSync(argv(replica, holder), env)).code === 0;
    const converged = settled && quiet && JSON.stringify(manifest(replica)) === JSON.stringify(manifest(holder));
    const present = new Set([...hashesUnder(replica, true).values(), ...hashesUnder(holder, true).values()]);
    const lost = [...v.edits.entries()].filter(([, h]) => !present.has(h)).map(([key]) => key);
    const torn = [...hashesUnder(replica, false), ...hashesUnder(holder, false)].filter(([, h]) => !v.all.has(h)).map(([p]) => p);
    return { landed, converged, lost, torn };
  } finally {
    fs.rmSync(replica, { recursive: true, force: true });
    fs.rmSync(holder, { recursive: true, force: true });
  }
}

interface Tally {
  rounds: number;
  landed: number;
  converged: number;
  lost: number;
  torn: number;
}

function report(kind: string, t: Tally): void {
  console.log(`${kind.padEnd(5)} rounds ${t.rounds}  faults landed ${t.landed}  converged ${t.converged}/${t.rounds}  versions lost ${t.lost}  torn files ${t.torn}`);
}

async function main(): Promise<void> {
  const env = { ...process.env };
  delete env["IMZ_CRASH_AT_STEP"];
  console.log(`fault campaign: ${ROUNDS} rounds per kind, load average ${os.loadavg().map((x) => x.toFixed(2)).join(" ")} (a shared machine)`);
  if (KIND === "kill" || KIND === "both") {
    const t: Tally = { rounds: 0, landed: 0, converged: 0, lost: 0, torn: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const transport = i % 2 === 0 ? "in-process" : "stdio";
      const delay = Math.floor(rng(1000 + i)() * 1500);
      const argv = (replica: string, holder: string): string[] => ["--transport", transport, replica, holder];
      const o = await round(1000 + i, argv, async (replica, holder) => (await runSync(argv(replica, holder), env, delay)).killed, env);
      tally(t, o, `kill ${i} (${transport}, ${delay} ms)`);
    }
    report("kill", t);
  }
  if (KIND === "cut" || KIND === "both") {
    const sshd: TestSshd = await startSshd();
    const homeDir = tempDir("imz-campaign-home-");
    const home = clientHome(homeDir, sshd);
    const sshEnv = { ...home.env };
    delete sshEnv["IMZ_CRASH_AT_STEP"];
    const hostKey = sshd.hostKeyPub.split(" ").slice(0, 2).join(" ");
    const viaSsh = (port: number) => (replica: string, holder: string): string[] => ["-i", home.key, "--remote-command", REMOTE_SERVE, replica, `ssh://root@127.0.0.1:${port}${holder}`];
    try {
      const t: Tally = { rounds: 0, landed: 0, converged: 0, lost: 0, torn: 0 };
      for (let i = 0; i < ROUNDS; i++) {
        const r = rng(2000 + i);
        const dir = r() < 0.5 ? "up" : "down";
        const after = Math.floor(r() * 3_000_000);
        const o = await round(2000 + i, viaSsh(sshd.port), async (replica, holder) => {
          // a relay of its own for the faulty run: a cut that never came must not hit a rerun
          const relay = await startRelay(sshd.port);
          fs.appendFileSync(home.knownHosts, `[127.0.0.1]:${relay.port} ${hostKey}\n`);
          try {
            let cut = false;
            void relay.cutAfter(after, dir).then(() => (cut = true));
            const res = await runSync(viaSsh(relay.port)(replica, holder), sshEnv);
            return cut && res.code !== 0;
          } finally {
            await relay.close();
          }
        }, sshEnv);
        tally(t, o, `cut ${i} (${dir} after ${after} bytes)`);
      }
      report("cut", t);
    } finally {
      await sshd.stop();
      fs.rmSync(homeDir, { recursive: true, force: true });
    }
  }
}

function tally(t: Tally, o: Outcome, what: string): void {
  t.rounds++;
  if (o.landed) t.landed++;
  if (o.converged) t.converged++;
  t.lost += o.lost.length;
  t.torn += o.torn.length;
  if (!o.converged || o.lost.length > 0 || o.torn.length > 0) console.log(`  ${what}: converged ${o.converged}, lost ${JSON.stringify(o.lost)}, torn ${JSON.stringify(o.torn)}`);
}

await main();
