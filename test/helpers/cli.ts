/**
 * Running the built CLIs the way a user does (`bin/intermezzo-sync`, `bin/intermezzo`), capturing
 * exit code, stdout (parsed when `--json`) and stderr.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { SyncReport } from "../../src/sync/sync.js";

/** Absolute path of `bin/intermezzo-sync`. */
export const SYNC_BIN = fileURLToPath(new URL("../../bin/intermezzo-sync", import.meta.url));
/** Absolute path of `bin/intermezzo`. */
export const IMZ_BIN = fileURLToPath(new URL("../../bin/intermezzo", import.meta.url));

/** What a CLI run produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bin` with `args` to completion. */
export function runCli(bin: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(opts.input ?? "");
  });
}

/** The `--json` summary of an `intermezzo-sync` run. */
export type SyncJson = SyncReport;

/** Runs `intermezzo-sync --json ...args`; returns the exit code and the parsed summary (if any). */
export async function syncJson(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult & { json?: SyncJson }> {
  const r = await runCli(SYNC_BIN, ["--json", ...args], opts);
  const line = r.stdout.trim().split("\n").at(-1);
  return line && line.startsWith("{") ? { ...r, json: JSON.parse(line) as SyncJson } : r;
}
