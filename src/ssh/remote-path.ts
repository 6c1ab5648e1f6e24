/**
 * Endpoint arguments as the CLI receives them, parsed into a discriminated union.
 *
 * Forms, tried in this order:
 * - `imz://[user@]host:port/fileset` — a running Lento listener (port required);
 * - `ssh://[user@]host[:port][/path]` — a remote path reached through OpenSSH;
 * - `[user@]host:path` — scp/rsync form: a `:` before any `/` means remote, so
 *   `./a:b` and `/x/a:b` are local; `host::module` (rsync daemon syntax) is refused;
 * - anything else is a local path.
 *
 * IPv6 hosts are written in brackets (`[::1]:/srv`, `ssh://[::1]:2222/srv`). An empty
 * remote path means the remote home directory and is returned as `"."`.
 */
import { ImzError } from "../errors.js";

/** A path on this host. */
export interface LocalEndpoint {
  readonly kind: "local";
  readonly path: string;
}

/** A path on a remote host, reached by exec'ing `intermezzo serve --stdio` over OpenSSH. */
export interface SshEndpoint {
  readonly kind: "ssh";
  /** Login name; `undefined` lets ssh config or the local user name decide. */
  readonly user: string | undefined;
  readonly host: string;
  /** TCP port; `undefined` lets ssh config decide (default 22). */
  readonly port: number | undefined;
  /** Remote path, never empty (`"."` is the remote home directory). */
  readonly path: string;
}

/** A file set served by a long-running Lento listener. */
export interface LentoEndpoint {
  readonly kind: "lento";
  readonly user: string | undefined;
  readonly host: string;
  readonly port: number;
  /** File set name, checked by {@link isValidFilesetName}. */
  readonly fileset: string;
}

/** Any endpoint argument. */
export type Endpoint = LocalEndpoint | SshEndpoint | LentoEndpoint;

const FILESET_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/** True for a file set name that is safe as a single path component and shell word. */
export function isValidFilesetName(name: string): boolean {
  return FILESET_NAME.test(name);
}

/** Parses one endpoint argument; bad input throws `USAGE` with a hint. */
export function parseEndpoint(arg: string): Endpoint {
  if (arg === "") throw usage(arg, "empty endpoint");
  if (arg.includes("\0")) throw usage(arg, "NUL byte in endpoint");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(arg);
  if (scheme) {
    const name = (scheme[1] as string).toLowerCase();
    if (name === "imz") return parseLentoUrl(arg);
    if (name === "ssh") return parseSshUrl(arg);
    throw usage(arg, `unsupported scheme ${name}://`);
  }
  return parseScpForm(arg) ?? { kind: "local", path: arg };
}

function parseScpForm(arg: string): SshEndpoint | undefined {
  const at = arg.lastIndexOf("@", bracketAwareColon(arg));
  const hostStart = at < 0 ? 0 : at + 1;
  const colon = bracketAwareColon(arg, hostStart);
  if (colon < 0) return undefined;
  const slash = arg.indexOf("/");
  if (slash >= 0 && slash < colon) return undefined;
  const user = at < 0 ? undefined : arg.slice(0, at);
  if (user === "") throw usage(arg, "empty user name before @");
  const host = unbracket(arg, arg.slice(hostStart, colon));
  const path = arg.slice(colon + 1);
  if (path.startsWith(":")) throw usage(arg, "rsync daemon syntax (host::module) is not supported");
  return { kind: "ssh", user, host, port: undefined, path: path === "" ? "." : path };
}

/** Index of the first `:` at or after `from` that is not inside `[...]`, or -1. */
function bracketAwareColon(arg: string, from = 0): number {
  let depth = 0;
  for (let i = from; i < arg.length; i++) {
    const c = arg[i];
    if (c === "[") depth++;
    else if (c === "]") depth = Math.max(0, depth - 1);
    else if (c === ":" && depth === 0) return i;
  }
  return -1;
}

function parseSshUrl(arg: string): SshEndpoint {
  const url = parseUrl(arg);
  const path = decode(arg, url.pathname);
  return {
    kind: "ssh",
    user: userOf(arg, url),
    host: hostOf(arg, url),
    port: url.port === "" ? undefined : Number(url.port),
    path: path === "" || path === "/" ? "." : path,
  };
}

function parseLentoUrl(arg: string): LentoEndpoint {
  const url = parseUrl(arg);
  if (url.port === "") throw usage(arg, "a Lento listener URL needs a port");
  const fileset = decode(arg, url.pathname.replace(/^\//, ""));
  if (!isValidFilesetName(fileset)) {
    throw usage(arg, `bad file set name ${JSON.stringify(fileset)} (letters, digits, . _ -)`);
  }
  return { kind: "lento", user: userOf(arg, url), host: hostOf(arg, url), port: Number(url.port), fileset };
}

function parseUrl(arg: string): URL {
  let url: URL;
  try {
    url = new URL(arg);
  } catch (cause) {
    throw usage(arg, "malformed URL", cause);
  }
  if (url.password !== "") throw usage(arg, "passwords in URLs are not supported; use keys or the agent");
  if (url.search !== "" || url.hash !== "") throw usage(arg, "unexpected ? or # in URL");
  return url;
}

function userOf(arg: string, url: URL): string | undefined {
  return url.username === "" ? undefined : decode(arg, url.username);
}

function hostOf(arg: string, url: URL): string {
  if (url.hostname === "") throw usage(arg, "missing host");
  return unbracket(arg, url.hostname);
}

function unbracket(arg: string, host: string): string {
  const inner = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (inner === "" || /[\s[\]@/]/.test(inner)) throw usage(arg, `bad host name ${JSON.stringify(host)}`);
  return inner;
}

function decode(arg: string, text: string): string {
  try {
    return decodeURIComponent(text);
  } catch (cause) {
    throw usage(arg, "bad %-escape in URL", cause);
  }
}

function usage(arg: string, why: string, cause?: unknown): ImzError {
  return new ImzError("USAGE", `cannot parse endpoint ${JSON.stringify(arg)}: ${why}`, {
    hint: "use a local path, [user@]host:path, ssh://[user@]host[:port]/path or imz://[user@]host:port/fileset",
    cause,
  });
}
