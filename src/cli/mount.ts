/**
 * `intermezzo mount DIR MOUNTPOINT`: serve the file set at DIR through the journaling filter at
 * MOUNTPOINT. In the background by default (the command returns once the mount is up); with
 * `--foreground` it stays attached and unmounts on SIGINT/SIGTERM or when someone else unmounts.
 * A lazy replica (`intermezzo replicate --lazy`) is mounted with upcalls to its recorded holder.
 * A background mount writes its messages (a failed fetch, libfuse's) to the file set's
 * `.intermezzo/mount.log`; nothing it writes can fail once its starter is gone.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { ImzError } from "../errors.js";
import { META_DIR } from "../journal/fileset.js";
import { isMounted, mountFileSet } from "../filter/mount.js";
import { nodeChildEnv } from "../node-env.js";
import { upcallsFor } from "../sync/upcall.js";
import { withPermits } from "../sync/upcall-socket.js";
import { runAction } from "./exit.js";

interface MountFlags {
  foreground: boolean;
  allowOther: boolean;
  debug: boolean;
}

/** The line the foreground process prints once the mount is up. */
const READY = "mounted";
/** How often the foreground process checks that its mount is still there. */
const WATCH_MS = 1000;
/** A background mount's log, inside the file set's metadata directory. */
export const MOUNT_LOG = "mount.log";

/** Registers `mount`. */
export function register(program: Command): void {
  program
    .command("mount")
    .description("mount a file set through the journaling filter (Presto): every update made there is journaled")
    .argument("<dir>", "the file set (its holding location)")
    .argument("<mountpoint>", "an empty directory")
    .option("--foreground", "stay in the foreground until unmounted", false)
    .option("--allow-other", "let other users use the mount (FUSE allow_other)", false)
    .option("--debug", "print libfuse's debug output", false)
    .action((dir: string, mountpoint: string, o: MountFlags) =>
      runAction("intermezzo", () => (o.foreground ? foreground(dir, mountpoint, o) : background(dir, mountpoint, o))),
    );
}

async function foreground(dir: string, mountpoint: string, o: MountFlags): Promise<void> {
  // A lazy replica fetches data on first use from the holder `intermezzo replicate` recorded.
  const log = (line: string): void => void process.stderr.write(`intermezzo: ${new Date().toISOString()} ${line}\n`);
  // Whoever reads our output may go away (a background mount's starter): a write that fails then
  // must not end the process, and with it the mount.
  process.stdout.on("error", () => undefined);
  process.stderr.on("error", () => undefined);
  const m = await mountFileSet(dir, mountpoint, { allowOther: o.allowOther, debug: o.debug }, (set) => withPermits(set.root, upcallsFor(set, { owner: true, log })));
  log(`mounted ${path.resolve(dir)} on ${m.mountpoint} (pid ${process.pid})`);
  process.stdout.write(`${READY} ${dir} on ${m.mountpoint}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      clearInterval(timer);
      process.off("SIGINT", stop).off("SIGTERM", stop);
      resolve();
    };
    const timer = setInterval(() => {
      if (!isMounted(m.mountpoint)) stop();
    }, WATCH_MS);
    process.on("SIGINT", stop).on("SIGTERM", stop);
  });
  await m.unmount();
  // fuse-native keeps an event-loop handle for a mount someone else unmounted: end explicitly,
  // after runAction has set the exit code.
  setImmediate(() => process.exit());
}

/**
 * Starts the foreground form as a detached child and returns once it reports the mount is up. The
 * child's messages go to `.intermezzo/mount.log` (appended; when DIR is no file set, to a pipe, so
 * the refusal is shown), from its start-up on: a failure before the mount is up is read back from there.
 */
async function background(dir: string, mountpoint: string, o: MountFlags): Promise<void> {
  const args = [...process.execArgv, process.argv[1]!, "mount", "--foreground", ...(o.allowOther ? ["--allow-other"] : []), dir, mountpoint];
  const logFile = path.join(path.resolve(dir), META_DIR, MOUNT_LOG);
  const logFd = fs.existsSync(path.dirname(logFile)) ? fs.openSync(logFile, "a", 0o600) : undefined;
  const start = logFd === undefined ? 0 : fs.fstatSync(logFd).size;
  const child = spawn(process.execPath, args, { env: nodeChildEnv(), detached: true, stdio: ["ignore", "pipe", logFd ?? "pipe"] });
  if (logFd !== undefined) fs.closeSync(logFd);
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const output = (): string => (logFd === undefined ? err : fs.readFileSync(logFile).subarray(start).toString()).trim();
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().startsWith(READY)) resolve();
    });
    child.on("exit", (code) => reject(new ImzError("IO", `mount failed (exit ${String(code)}): ${output() || "no output"}`)));
  });
  process.stdout.write(`mounted ${dir} on ${mountpoint} (pid ${child.pid}; log: ${logFd === undefined ? "none" : logFile})\n`);
  child.stdout!.destroy();
  child.stderr?.destroy();
  child.unref();
}
