/**
 * Nothing lost under churn (issue "Live Lento"): two `intermezzo-sync --watch` replicas and a live
 * holder (`intermezzo serve --listen`, which watches its tree while replicas are attached) edit,
 * rename and delete files and directories in one tree for a minute while connections are cut at
 * random — the listener or a replica killed by its pid (SIGKILL or SIGTERM) and restarted. Then
 * quiet: the three trees must be identical, a one-shot sync of each replica must find nothing to
 * settle, and every version any writer wrote must be in the trees or kept under
 * `.intermezzo/conflicts/` unless a writer itself replaced or deleted it (`test/helpers/churn.ts`).
 *
 * The cuts and the writers' choices come from one seeded PRNG; the seed is printed, and
 * `IMZ_CHURN_SEED=N` replays its choices (timing still varies). `IMZ_CHURN_SECONDS` sets the churn's
 * length (default 60); `IMZ_CHURN_KEEP=1` keeps the trees of a failed run and traces every
 * process (`src/trace.ts`). Real processes on loopback only, each ended by its pid in `finally`.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { SYNC_BIN, syncJson } from "../helpers/cli.js";
import { ChurnWriter, Ledger, tokensKept } from "../helpers/churn.js";
import { startListenerChild, type ListenerChild } from "../helpers/remote.js";
import { sshKeygen } from "../helpers/sshd.js";
import { manifest, rng, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-churn-");
const SECONDS = Number(process.env["IMZ_CHURN_SECONDS"] ?? 60);
const SEED = Number(process.env["IMZ_CHURN_SEED"] ?? Math.floor(Math.random() * 2 ** 31));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A `intermezzo-sync --watch` process that can be killed and started again; its log survives. */
class Replica {
  child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopping = false;
  history = "";
  /** Exits nobody asked for (a live replica gave up by itself). */
  unasked = 0;

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    const child = spawn(process.execPath, [SYNC_BIN, "--watch", ...this.args], { env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    this.history += `\n=== ${this.name} started (pid ${child.pid})\n`;
    const log = (b: Buffer): void => void (this.history += b.toString());
    child.stdout!.on("data", log);
    child.stderr!.on("data", log);
    this.stopping = false;
    this.exited = new Promise((r) =>
      child.once("exit", (code, sig) => {
        this.history += `=== ${this.name} exited (${code ?? sig})\n`;
        if (!this.stopping) this.unasked++;
        r();
      }),
    );
    this.child = child;
  }

  /** Sends `signal` by pid and waits for the exit; a SIGTERM not obeyed in 20 s is a defect. */
  async stop(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    process.kill(this.child!.pid!, signal);
    const late = await Promise.race([this.exited.then(() => false), sleep(20_000).then(() => true)]);
    if (late) {
      process.kill(this.child!.pid!, "SIGKILL");
      await this.exited;
      throw new Error(`${this.name} did not stop on ${signal}`);
    }
  }
}

/** True when the trees' manifests are equal (false while one changes under the walk). */
function same(roots: string[]): boolean {
  try {
    const [first, ...rest] = roots.map((r) => JSON.stringify(manifest(r)));
    return rest.every((m) => m === first);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

describe("live Lento under churn", () => {
  // IMZ_CHURN_KEEP=1 keeps the trees of a failed run for a look at their .intermezzo/
  after(() => process.env["IMZ_CHURN_KEEP"] || scratch.cleanup());

  // What each failing seed found is in docs/DESIGN.md, "Nothing lost under churn".
  it(`two replicas and the holder edit, rename and delete for ${SECONDS} s with connections cut at random; then quiet: identical trees, nothing lost`, async (t) => {
    t.diagnostic(`churn seed ${SEED} (replay with IMZ_CHURN_SEED=${SEED})`);
    console.log(`churn seed ${SEED} (replay with IMZ_CHURN_SEED=${SEED})`);
    const random = rng(SEED);
    const base = scratch.dir();
    const holder = path.join(base, "www");
    const [a, b] = [path.join(base, "a"), path.join(base, "b")];
    for (const d of [holder, a, b]) fs.mkdirSync(d);
    const keyDir = path.join(base, "keys");
    const userKey = path.join(keyDir, "id_ed25519");
    await sshKeygen(userKey);
    const home = path.join(base, "home");
    fs.mkdirSync(path.join(home, ".ssh"), { recursive: true, mode: 0o700 });
    // IMZ_CHURN_KEEP=1 also traces every process's records into trace.jsonl beside the trees (src/trace.ts)
    if (process.env["IMZ_CHURN_KEEP"]) process.env["IMZ_TRACE"] = path.join(base, "trace.jsonl");
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env["SSH_AUTH_SOCK"];

    const ledger = new Ledger();
    const writers = [new ChurnWriter("h", holder, ledger, rng(SEED + 1), base), new ChurnWriter("a", a, ledger, rng(SEED + 2), base), new ChurnWriter("b", b, ledger, rng(SEED + 3), base)];
    for (let i = 0; i < 20; i++) writers[0]!.step();

    let listener: ListenerChild | undefined;
    let listenerLog = "";
    const replicas: Replica[] = [];
    const cutLog: string[] = [];
    const logs = (): string => `cuts: ${cutLog.join("; ")}\n${replicas.map((r) => r.history).join("\n")}\n=== listener\n${listenerLog}${listener?.log() ?? ""}`;
    let churning = true;
    const failures: unknown[] = [];
    try {
      listener = await startListenerChild([holder], keyDir, `${userKey}.pub`);
      listenerLog += `=== listener pid ${listener.pid}\n`;
      const port = listener.port;
      fs.writeFileSync(path.join(home, ".ssh", "known_hosts"), `${listener.knownHostsLine}\n`);
      const url = `imz://alice@127.0.0.1:${port}/${listener.names[0]}`;
      for (const [name, root] of [["a", a], ["b", b]] as const) {
        const r = new Replica(name, ["-i", userKey, root, url], env);
        r.start();
        replicas.push(r);
      }
      const restartListener = async (): Promise<void> => {
        listenerLog += listener!.log();
        listener = await startListenerChild([holder], keyDir, `${userKey}.pub`, port);
        listenerLog += `=== listener pid ${listener.pid}\n`;
      };

      // the writers: one step each every 20-120 ms
      const writing = writers.map(async (w) => {
        while (churning) {
          try {
            w.step();
          } catch (err) {
            failures.push(err);
            return;
          }
          await sleep(20 + random() * 100);
        }
      });
      // the cuts: one every 2-8 s, each down for up to 3 s
      const cutting = (async () => {
        const end = Date.now() + SECONDS * 1000;
        while (Date.now() < end) {
          await sleep(2000 + random() * 6000);
          const what = Math.floor(random() * 4);
          const down = random() * 3000;
          const victim = replicas[Math.floor(random() * 2)]!;
          const at = `${((SECONDS * 1000 - (end - Date.now())) / 1000).toFixed(1)} s (${new Date().toISOString().slice(11, 23)})`;
          if (what < 2) {
            const signal = what === 0 ? "SIGKILL" : "SIGTERM";
            cutLog.push(`${at}: listener ${signal}, down ${down.toFixed(0)} ms`);
            if (signal === "SIGKILL") process.kill(listener!.pid, "SIGKILL");
            await listener!.stop();
            await sleep(down);
            await restartListener();
          } else {
            const signal = what === 2 ? "SIGKILL" : "SIGTERM";
            cutLog.push(`${at}: replica ${victim.name} ${signal}, down ${down.toFixed(0)} ms`);
            await victim.stop(signal);
            await sleep(down);
            victim.start();
          }
        }
      })();
      await cutting.finally(() => (churning = false));
      await Promise.all(writing);
      assert.deepEqual(failures, []);
      t.diagnostic(`cuts: ${cutLog.join("; ")}`);
      t.diagnostic(`${ledger.ops} changes made, ${ledger.written.size} versions written`);

      // quiet: everything runs; wait for the three trees to agree
      for (const end = Date.now() + 120_000; !same([holder, a, b]); await sleep(100)) {
        if (Date.now() > end || replicas.some((r) => r.unasked > 0)) assert.fail("the trees did not converge");
      }
      for (const r of replicas) await r.stop("SIGTERM");
      await listener.stop();
      // a one-shot sync of each replica finds nothing to settle and changes nothing
      for (const r of [a, b]) {
        const quiet = await syncJson([r, holder]);
        assert.equal(quiet.code, 0, `a quiet sync of ${r}:\n${quiet.stderr}\n${quiet.stdout}`);
      }
      assert.ok(same([holder, a, b]), "identical after the quiet syncs");

      // every version written is in the trees or kept as a conflict, unless a writer replaced or deleted it
      const found = tokensKept([holder, a, b]);
      const lost = [...ledger.expected()].filter((tok) => !found.has(tok)).map((tok) => ledger.origin(tok));
      assert.deepEqual(lost, [], "versions lost");
    } catch (err) {
      // every process's log, and the cuts so far, with whatever failed
      throw new Error(`${(err as Error).message}\n(seed ${SEED}, trees in ${base})\n${logs()}`, { cause: err });
    } finally {
      churning = false;
      for (const r of replicas) if (r.running) process.kill(r.child!.pid!, "SIGKILL");
      await listener?.stop();
    }
  });
});
