/**
 * `intermezzo mount DIR MOUNTPOINT`: serve the file set at DIR through the journaling filter at
 * MOUNTPOINT. In the background by default (the command returns once the mount is up); with
 * `--foreground` it stays attached and unmounts on SIGINT/SIGTERM or when someone else unmounts.
 * A lazy replica (`intermezzo replicate --lazy`) is mounted with upcalls to its recorded holder.
 */
import { spawn } from "node:child_process";
import type { Command } from "commander";
import { ImzError } from "../errors.js";
import { isMounted, mountFileSet } from "../filter/mount.js";
import { upcallsFor } from "../sync/upcall.js";
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
  const log = (line: string): void => void process.stderr.write(`intermezzo: ${line}\n`);
  const m = await mountFileSet(dir, mountpoint, { allowOther: o.allowOther, debug: o.debug }, (set) => upcallsFor(set, { owner: true, log }));
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

/** Starts the foreground form as a detached child and returns once it reports the mount is up. */
async function background(dir: string, mountpoint: string, o: MountFlags): Promise<void> {
  const args = [...process.execArgv, process.argv[1]!, "mount", "--foreground", ...(o.allowOther ? ["--allow-other"] : []), dir, mountpoint];
  const child = spawn(process.execPath, args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().startsWith(READY)) resolve();
    });
    child.on("exit", (code) => reject(new ImzError("IO", `mount failed (exit ${String(code)}): ${err.trim() || "no output"}`)));
  });
  process.stdout.write(`mounted ${dir} on ${mountpoint} (pid ${child.pid})\n`);
  child.stdout.destroy();
  child.stderr.destroy();
  child.unref();
}
