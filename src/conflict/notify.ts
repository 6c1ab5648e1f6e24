/**
 * Conflict notification: the admin's hook (`--notify-command`, or `notifyCommand` in the file set's
 * config) runs once per sync that met conflicts, through `/bin/sh -c`, with the list as JSON on its
 * standard input — a mail or chat hook, as the paper's web-replication target wants ("the server
 * copy wins and the administrator is notified").
 */
import { spawn } from "node:child_process";
import { ImzError } from "../errors.js";

/** What the hook reads on stdin. */
export interface Notification {
  fileset: { replica: string; holder: string };
  conflicts: unknown[];
}

/** Runs `command` with `note` as JSON on stdin; throws `NOTIFY_FAILED` if it cannot run or exits non-zero. */
export async function notifyConflicts(command: string, note: Notification): Promise<void> {
  const child = spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "inherit", "inherit"] });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code));
  });
  child.stdin.on("error", () => undefined); // a hook that does not read its input is its own business
  child.stdin.end(JSON.stringify(note, null, 2) + "\n");
  let code: number | null;
  try {
    code = await exited;
  } catch (err) {
    throw new ImzError("NOTIFY_FAILED", `the notify command could not run: ${(err as Error).message}`, { hint: "check --notify-command", cause: err });
  }
  if (code !== 0) throw new ImzError("NOTIFY_FAILED", `the notify command exited with status ${code ?? "signal"}`, { hint: "the conflicts are still in .intermezzo/conflicts.log; check the hook" });
}
