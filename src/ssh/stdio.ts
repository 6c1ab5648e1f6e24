/**
 * The stdio transport: a child process speaking the protocol on its stdin/stdout (how a local
 * `intermezzo-sync` reaches the holder, as rsync does with its local server process). Its stderr
 * is kept to explain a failed start.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Readable, Writable } from "node:stream";

/** A running protocol child. */
export interface StdioChild {
  input: Readable;
  output: Writable;
  /** What the child wrote to stderr (last 64 KiB). */
  stderr(): string;
  /** Resolves with the exit code (or signal name) once the child is gone. */
  exited: Promise<number | string>;
  /** Ends the child's stdin and waits for it (kills it by pid after `graceMs`). */
  close(graceMs?: number): Promise<void>;
  process: ChildProcess;
}

/** Starts `command args` with piped stdio (in `env`, by default this process's). */
export function spawnStdio(command: string, args: string[], env?: NodeJS.ProcessEnv): StdioChild {
  const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"], ...(env ? { env } : {}) });
  let err = "";
  child.stderr!.on("data", (b: Buffer) => {
    err = (err + b.toString("utf8")).slice(-65536);
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on("error", (e) => {
      err += `\n${e.message}`;
      resolve(127);
    });
    child.on("close", (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    input: child.stdout!,
    output: child.stdin!,
    stderr: () => err,
    exited,
    process: child,
    async close(graceMs = 10_000) {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill("SIGTERM"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
