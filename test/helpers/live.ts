/**
 * Live sessions for end-to-end tests: `intermezzo-sync --watch` run as a real long-lived process,
 * waits that poll the trees (no timed assertions), and reading a file that may not be there yet.
 * Every process started here is ended by its pid (`stop()`, or `stopAll()` in `after`).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { SYNC_BIN } from "./cli.js";

/** A file's text, or undefined when it is not there. */
export function read(root: string, rel: string): string | undefined {
  try {
    return fs.readFileSync(path.join(root, rel), "utf8");
  } catch {
    return undefined;
  }
}

/** A running `intermezzo-sync --watch`. */
export interface Watcher {
  child: ChildProcess;
  log(): string;
  /** SIGTERM to its pid; resolves with how it exited (SIGKILL and a failure if it does not stop). */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Watcher>();

/** Polls until `pred` holds; fails after a minute with what it waited for and every session's log. */
export async function until(pred: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 60_000; !pred(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${[...running].map((w) => w.log()).join("\n---\n")}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts `intermezzo-sync --watch ...args` and waits until it is live. */
export async function watch(args: string[], env?: NodeJS.ProcessEnv): Promise<Watcher> {
  const child = spawn(process.execPath, [SYNC_BIN, "--watch", ...args], { env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (b: Buffer) => (log += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (log += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
  const w: Watcher = {
    child,
    log: () => log,
    async stop() {
      running.delete(w);
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, "SIGCONT");
        process.kill(child.pid!, "SIGTERM");
        // a session that does not stop on SIGTERM is a defect: killed, and reported
        const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 15_000))]);
        if (late) {
          process.kill(child.pid!, "SIGKILL");
          await exited;
          throw new Error(`--watch did not stop on SIGTERM:\n${log}`);
        }
      }
      return exited;
    },
  };
  running.add(w);
  await until(() => / live\n/.test(log) || child.exitCode !== null, "the session to go live");
  assert.equal(child.exitCode, null, log);
  return w;
}

/** Stops every session still running (for `after`). */
export async function stopAll(): Promise<void> {
  for (const w of [...running]) await w.stop();
}
