/**
 * Exit codes shared by `intermezzo` and `intermezzo-sync`, and the one boundary where a thrown
 * error becomes one line on stderr (with its hint) and a process exit code.
 */
import { CommanderError, type Command } from "commander";
import { ImzError, type ErrorCode } from "../errors.js";
import { diskFullError } from "../journal/disk-full.js";
import { displayPath } from "../journal/names.js";

/** Documented exit codes (README "Exit codes"). */
export const ExitCode = {
  OK: 0,
  /** An error stopped the run; nothing was torn, rerun when it is fixed. */
  ERROR: 1,
  /** Bad command-line usage. */
  USAGE: 2,
  /** The run completed with conflicts: each settled by its policy or parked (`intermezzo conflicts`). */
  CONFLICTS: 3,
  /** The run completed but some paths could not be handled (per-path problems). */
  PARTIAL: 4,
  /** Refused for safety: a missing root, not a file set, a mass delete. Rerun with --force to override. */
  REFUSED: 5,
  /** The peer could not be reached, authenticated, or spoke an incompatible protocol. */
  REMOTE: 6,
  /** Another run of the same replica holds its lock. */
  LOCKED: 7,
} as const;

/** Numeric exit code type. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

const BY_CODE: Partial<Record<ErrorCode, ExitCodeValue>> = {
  USAGE: ExitCode.USAGE,
  CONFIG_INVALID: ExitCode.USAGE,
  ROOT_MISSING: ExitCode.REFUSED,
  NOT_A_FILESET: ExitCode.REFUSED,
  FILESET_MISMATCH: ExitCode.REFUSED,
  MASS_DELETE: ExitCode.REFUSED,
  EMPTY_SOURCE: ExitCode.REFUSED,
  NOT_EMPTY: ExitCode.REFUSED,
  LOCKED: ExitCode.LOCKED,
  HANDSHAKE_FAILED: ExitCode.REMOTE,
  PROTOCOL_VERSION: ExitCode.REMOTE,
  REMOTE_NOT_FOUND: ExitCode.REMOTE,
  CONNECTION_LOST: ExitCode.REMOTE,
  TIMEOUT: ExitCode.REMOTE,
  HOST_KEY_UNKNOWN: ExitCode.REMOTE,
  HOST_KEY_CHANGED: ExitCode.REMOTE,
  HOST_KEY_REVOKED: ExitCode.REMOTE,
  AUTH_FAILED: ExitCode.REMOTE,
};

/** Maps an error to the exit code a script sees. */
export function exitCodeFor(err: unknown): ExitCodeValue {
  if (err instanceof ImzError) return BY_CODE[err.code] ?? ExitCode.ERROR;
  return ExitCode.ERROR;
}

/** Formats an error as the one line (plus hint line) a person reads. */
export function formatError(prog: string, err: unknown): string {
  if (err instanceof ImzError) {
    const where = err.path ? ` (${displayPath(err.path)})` : "";
    const hint = err.hint ? `\n${prog}: hint: ${err.hint}` : "";
    return `${prog}: error [${err.code}]: ${err.message}${where}${hint}`;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === "string" && e.syscall) {
    return `${prog}: error [IO]: ${e.syscall} ${e.path ?? ""}: ${e.code}`.trimEnd();
  }
  return `${prog}: internal error: ${e?.stack ?? String(err)}`;
}

/**
 * Runs a command action; prints errors in the standard form and exits with the mapped code.
 * The action returns its own exit code (e.g. CONFLICTS) or nothing for OK.
 */
export async function runAction(prog: string, action: () => Promise<ExitCodeValue | void>): Promise<void> {
  try {
    const code = await action();
    process.exitCode = code ?? ExitCode.OK;
  } catch (thrown) {
    const err = diskFullError(thrown);
    process.stderr.write(formatError(prog, err) + "\n");
    process.exitCode = exitCodeFor(err);
  }
}

/** Parses `argv` with `program`; a usage error (already printed by commander) exits with USAGE. */
export async function parseCli(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    process.exitCode = err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
}
