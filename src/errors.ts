/**
 * Errors that stop an operation carry a literal `code` (tests assert on it), an optional
 * one-line `hint` telling a person what to do, and the path or peer they concern. They
 * serialise across the wire (see {@link toWireError}) so a server's refusal reaches the client intact.
 */

/** Every error code the project raises. Delta (librsync) codes keep librsync's own names. */
export const ERROR_CODES = [
  "USAGE",
  "ROOT_MISSING",
  "NOT_A_FILESET",
  "FILESET_MISMATCH",
  "SCHEMA_VERSION",
  "LOCKED",
  "MASS_DELETE",
  "EMPTY_SOURCE",
  "PATH_UNSAFE",
  "RECORD_INVALID",
  "IO",
  "UNSUPPORTED",
  "FRAME_TOO_LARGE",
  "FRAME_UNKNOWN_KIND",
  "FRAME_TRUNCATED",
  "FRAME_BAD_HEADER",
  "HANDSHAKE_FAILED",
  "PROTOCOL_VERSION",
  "REMOTE_NOT_FOUND",
  "REMOTE_ERROR",
  "CONNECTION_LOST",
  "SESSION_UNKNOWN",
  "HOST_KEY_UNKNOWN",
  "HOST_KEY_CHANGED",
  "HOST_KEY_REVOKED",
  "AUTH_FAILED",
  "SSH_CONFIG",
  "RS_CORRUPT",
  "RS_BAD_MAGIC",
  "RS_INPUT_ENDED",
  "RS_PARAM_ERROR",
  "RS_MEM_ERROR",
  "RS_IO_ERROR",
  "RS_INTERNAL_ERROR",
  "HASH_MISMATCH",
  "NO_DATA",
  "NOT_EMPTY",
  "CONFIG_INVALID",
  "CONFLICT_UNKNOWN",
  "NOTIFY_FAILED",
  "DISK_FULL",
  "TIMEOUT",
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Extra facts attached to an {@link ImzError}. */
export interface ErrorDetails {
  /** One line telling the user what to do about it. */
  hint?: string;
  /** The file-set-relative or local path concerned. */
  path?: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** The project's error: a code, a message a person understands, and an optional hint. */
export class ImzError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly path: string | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "ImzError";
    this.code = code;
    this.hint = details.hint;
    this.path = details.path;
  }
}

/** True when `err` is an {@link ImzError}, optionally with the given code. */
export function isImzError(err: unknown, code?: ErrorCode): err is ImzError {
  return err instanceof ImzError && (code === undefined || err.code === code);
}

/** An error as it crosses the wire. */
export interface WireError {
  code: string;
  message: string;
  hint?: string;
  path?: string;
}

/**
 * True when `err` stopped a sync because its own tree changed under it (a file it had to read was
 * renamed or deleted meanwhile, a directory swapped): the next sync, after the watcher has journaled
 * that change, goes through. A live replica retries these instead of giving up.
 */
export function isTreeRace(err: unknown): boolean {
  if (!(err instanceof ImzError)) return false;
  const cause = (err.cause as NodeJS.ErrnoException | undefined)?.code;
  return err.code === "PATH_UNSAFE" || (err.code === "IO" && (cause === "ENOENT" || cause === "ENOTDIR"));
}

/** Serialises any thrown value for the wire; foreign errors become `REMOTE_ERROR`/`IO`. */
export function toWireError(err: unknown): WireError {
  if (err instanceof ImzError) {
    const out: WireError = { code: err.code, message: err.message };
    if (err.hint !== undefined) out.hint = err.hint;
    if (err.path !== undefined) out.path = err.path;
    return out;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === "string") return { code: "IO", message: `${e.code}: ${e.message}` };
  return { code: "REMOTE_ERROR", message: String(e?.message ?? err) };
}

const KNOWN: ReadonlySet<string> = new Set(ERROR_CODES);

/** The project's error code a holder's failure detail starts with (`"DISK_FULL: …"`), if any. */
export function leadingCode(detail: string | undefined): ErrorCode | undefined {
  const code = /^([A-Z_]+):/.exec(detail ?? "")?.[1];
  return code !== undefined && KNOWN.has(code) ? (code as ErrorCode) : undefined;
}

/** Rebuilds an {@link ImzError} from its wire form; unknown codes become `REMOTE_ERROR`. */
export function fromWireError(w: WireError): ImzError {
  const code = (KNOWN.has(w.code) ? w.code : "REMOTE_ERROR") as ErrorCode;
  const details: ErrorDetails = {};
  if (w.hint !== undefined) details.hint = w.hint;
  if (w.path !== undefined) details.path = w.path;
  return new ImzError(code, w.message, details);
}
