/**
 * Resolves a host argument through OpenSSH's client configuration (`~/.ssh/config`):
 * Host, HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand, ConnectTimeout,
 * UserKnownHostsFile, GlobalKnownHostsFile, IdentityAgent and IdentitiesOnly, with OpenSSH's
 * precedence — values given on the command line win, then the first matching value in the file,
 * then built-in defaults. `Include` is followed (globs; relative paths are under `~/.ssh`). A
 * keyword that would change where or how to connect and that intermezzo does not implement
 * (`HostKeyAlias`, `Ciphers`, `Match exec`, …) is refused with `SSH_CONFIG` naming it, never
 * ignored; no command runs while reading the config.
 */
import { readFile, readdir } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { isAbsolute, join } from "node:path";
import SSHConfig from "ssh-config";
import { ImzError } from "../errors.js";

/** Where to look, injectable for tests. */
export interface SshConfigSource {
  /** Home directory for `~` and `%d` and the default config path; default `os.homedir()`. */
  readonly homeDir?: string;
  /** Config file; default `<homeDir>/.ssh/config`. A missing file means "no settings". */
  readonly configPath?: string;
  /** Local user name for `%u` and the default remote user; default `os.userInfo().username`. */
  readonly localUser?: string;
}

/** Values given explicitly (command line, endpoint argument); they override the config. */
export interface SshTargetOverrides {
  readonly user?: string | undefined;
  readonly port?: number | undefined;
  /** `-i FILE` options; when given, the config's IdentityFile entries are not used. */
  readonly identityFiles?: readonly string[] | undefined;
}

/** A fully resolved SSH target. */
export interface SshTarget {
  /** The name as the user wrote it (the `Host` pattern it matched against). */
  readonly alias: string;
  /** Name or address to connect to (`HostName`, `%h` expanded), also the known_hosts name. */
  readonly hostName: string;
  readonly user: string;
  readonly port: number;
  /** Identity files from `-i` or `IdentityFile`, `~` and `%` tokens expanded; may be empty. */
  readonly identityFiles: readonly string[];
  /** `ProxyJump` hops (`[user@]host[:port]`, first hop first); absent for none. */
  readonly proxyJump?: readonly string[];
  /** `ProxyCommand` with `%h %p %r %n %%` expanded, run by `sh -c`; absent for none. */
  readonly proxyCommand?: string;
  /** `UserKnownHostsFile` then `GlobalKnownHostsFile` entries, expanded; absent when not set. */
  readonly knownHostsFiles?: readonly string[];
  /** `IdentityAgent`: a socket path, or null for `none` (also with `IdentitiesOnly yes`); absent when not set. */
  readonly agent?: string | null;
  /** `ConnectTimeout` in ms; absent when not set. */
  readonly connectTimeoutMs?: number;
}

/**
 * Keywords that change where or how to connect and that intermezzo does not implement, with the
 * values that are harmless (the default). Anything else set for the host is refused.
 */
const UNSUPPORTED: Record<string, readonly string[]> = {
  hostkeyalias: [],
  bindaddress: [],
  bindinterface: [],
  canonicalizehostname: ["no"],
  addressfamily: ["any"],
  proxyusefdpass: ["no"],
  tunnel: ["no"],
  remotecommand: ["none"],
  knownhostscommand: ["none"],
  stricthostkeychecking: ["yes", "ask", "accept-new"],
  certificatefile: [],
  pkcs11provider: ["none"],
  securitykeyprovider: ["internal"],
  ciphers: [],
  macs: [],
  kexalgorithms: [],
  hostkeyalgorithms: [],
  pubkeyacceptedalgorithms: [],
  pubkeyacceptedkeytypes: [],
  casignaturealgorithms: [],
};

/** Match criteria the ssh-config package evaluates (others, e.g. `exec`, are refused). */
const MATCH_CRITERIA = new Set(["all", "final", "host", "originalhost", "user", "localuser"]);

/** Most nested `Include` levels, as OpenSSH. */
const INCLUDE_DEPTH = 16;

/** Reads the config (if any) and resolves `alias`; a malformed value throws `SSH_CONFIG`. */
export async function resolveSshTarget(
  alias: string,
  overrides: SshTargetOverrides = {},
  source: SshConfigSource = {},
): Promise<SshTarget> {
  const homeDir = source.homeDir ?? homedir();
  const configPath = source.configPath ?? join(homeDir, ".ssh", "config");
  const localUser = source.localUser ?? userInfo().username;
  const text = await expandIncludes(await readConfig(configPath), join(homeDir, ".ssh"), homeDir, configPath, 0);
  const parsed = SSHConfig.parse(text);
  refuseMatch(parsed, alias, configPath);
  const computed = parsed.compute(
    overrides.user === undefined ? { Host: alias } : { Host: alias, User: overrides.user },
    { ignoreCase: true, matchExec: false },
  );
  const bad = (what: string): ImzError =>
    new ImzError("SSH_CONFIG", `${configPath}: bad ${what} for host ${alias}`, {
      hint: "fix the entry in your ssh config or pass the value on the command line",
      path: configPath,
    });

  const user = overrides.user ?? first(computed["user"]) ?? localUser;
  const hostName = (first(computed["hostname"]) ?? alias).replace(/%h/g, alias).replace(/%%/g, "%");
  const portText = first(computed["port"]);
  const port = overrides.port ?? (portText === undefined ? 22 : Number(portText));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`Port ${JSON.stringify(portText)}`);
  if (hostName === "" || /\s/.test(hostName)) throw bad(`HostName ${JSON.stringify(hostName)}`);

  const tokens: Record<string, string> = { "%": "%", d: homeDir, u: localUser, h: hostName, r: user, p: String(port) };
  const expand = (file: string): string => {
    const tilde = file === "~" || file.startsWith("~/") ? homeDir + file.slice(1) : file;
    return tilde.replace(/%(.)/g, (whole, t: string) => {
      const value = tokens[t];
      if (value === undefined) throw bad(`token ${whole} in IdentityFile ${file}`);
      return value;
    });
  };
  const files = overrides.identityFiles ?? all(computed["identityfile"]);
  for (const [key, harmless] of Object.entries(UNSUPPORTED)) {
    const value = first(computed[key]);
    if (value !== undefined && !harmless.includes(value.toLowerCase())) {
      throw new ImzError("SSH_CONFIG", `${configPath}: ${key} ${value} (host ${alias}) is not supported by intermezzo; it changes where or how to connect`, {
        hint: "remove it for this host (a Host block of its own for intermezzo), or connect with plain ssh",
        path: configPath,
      });
    }
  }
  return {
    alias, hostName, user, port, identityFiles: files.map(expand),
    ...proxies(computed, { ...tokens, n: alias }, bad),
    ...knownHosts(computed, expand),
    ...agentOf(computed, expand),
    ...timeoutOf(computed, bad),
  };
}

type Computed = Record<string, string | string[]>;

/** `ProxyJump` and `ProxyCommand` (`none` for either means no proxy; both set is ambiguous here). */
function proxies(computed: Computed, tokens: Record<string, string>, bad: (what: string) => ImzError): Pick<SshTarget, "proxyJump" | "proxyCommand"> {
  const jump = first(computed["proxyjump"]);
  const command = first(computed["proxycommand"]);
  const useJump = jump !== undefined && jump.toLowerCase() !== "none";
  const useCommand = command !== undefined && command.toLowerCase() !== "none";
  if (useJump && useCommand) throw bad("ProxyJump together with ProxyCommand (set one)");
  if (useJump) {
    const hops = jump.split(",").map((h) => h.trim());
    if (hops.some((h) => h === "" || /\s/.test(h))) throw bad(`ProxyJump ${JSON.stringify(jump)}`);
    return { proxyJump: hops };
  }
  if (useCommand) {
    const expanded = command.replace(/%(.)/g, (whole, t: string) => {
      const value = "hprn%".includes(t) ? tokens[t] : undefined;
      if (value === undefined) throw bad(`token ${whole} in ProxyCommand`);
      return value;
    });
    return { proxyCommand: expanded };
  }
  return {};
}

function knownHosts(computed: Computed, expand: (f: string) => string): Pick<SshTarget, "knownHostsFiles"> {
  const files = [...all(computed["userknownhostsfile"]), ...all(computed["globalknownhostsfile"])].flatMap((v) => v.split(/\s+/)).filter((f) => f !== "");
  return files.length > 0 ? { knownHostsFiles: files.map(expand) } : {};
}

function agentOf(computed: Computed, expand: (f: string) => string): Pick<SshTarget, "agent"> {
  const agent = first(computed["identityagent"]);
  if (agent !== undefined) {
    if (agent.toLowerCase() === "none") return { agent: null };
    if (agent === "SSH_AUTH_SOCK") return {};
    return { agent: expand(agent.startsWith("$") ? process.env[agent.slice(1)] ?? "" : agent) };
  }
  // IdentitiesOnly: only the configured files are offered (the agent's other keys are not)
  return first(computed["identitiesonly"])?.toLowerCase() === "yes" && all(computed["identityfile"]).length > 0 ? { agent: null } : {};
}

function timeoutOf(computed: Computed, bad: (what: string) => ImzError): Pick<SshTarget, "connectTimeoutMs"> {
  const text = first(computed["connecttimeout"]);
  if (text === undefined || text.toLowerCase() === "none") return {};
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 1) throw bad(`ConnectTimeout ${JSON.stringify(text)}`);
  return { connectTimeoutMs: seconds * 1000 };
}

/**
 * Refuses a `Match` block with a criterion the package does not evaluate (`exec`, `canonical`,
 * `localnetwork`, `tagged`) whose other criteria do not rule this host out: it would be skipped
 * silently, and its settings are meant to apply.
 */
function refuseMatch(parsed: SSHConfig, alias: string, configPath: string): void {
  for (const line of parsed) {
    if (line.type !== SSHConfig.DIRECTIVE || !/^match$/i.test(line.param) || !("criteria" in line)) continue;
    const criteria = line.criteria as Record<string, string | string[]>;
    const unknown = Object.keys(criteria).filter((k) => !MATCH_CRITERIA.has(k.toLowerCase()));
    if (unknown.length === 0) continue;
    const hosts = Object.entries(criteria).filter(([k]) => /^(original)?host$/i.test(k)).flatMap(([, v]) => all(v).flatMap((x) => x.split(",")));
    if (hosts.length > 0 && !hosts.some((h) => globMatch(h, alias))) continue;
    throw new ImzError("SSH_CONFIG", `${configPath}: Match ${unknown.join(", ")} (host ${alias}) is not supported by intermezzo; it runs no command and cannot tell whether the block applies`, {
      hint: "give intermezzo's host a Host block of its own, or connect with plain ssh",
      path: configPath,
    });
  }
}

/** An OpenSSH host pattern (`*`, `?`, `!negation`) against `name`. */
function globMatch(pattern: string, name: string): boolean {
  if (pattern.startsWith("!")) return false;
  return globRegExp(pattern).test(name);
}

/** A glob (`*`, `?`, `[...]`) as an anchored regular expression. */
function globRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

/**
 * Replaces each `Include` line with the text of the files it names, in glob order, recursively
 * (relative names are under `~/.ssh`; a pattern matching nothing is skipped, as OpenSSH does).
 */
async function expandIncludes(text: string, sshDir: string, homeDir: string, from: string, depth: number): Promise<string> {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*include\s+(.+?)\s*$/i.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    if (depth >= INCLUDE_DEPTH) {
      throw new ImzError("SSH_CONFIG", `${from}: Include nested more than ${INCLUDE_DEPTH} deep`, { hint: "look for an Include that includes itself", path: from });
    }
    for (const word of m[1]!.match(/"[^"]*"|\S+/g) ?? []) {
      const name = word.replace(/^"|"$/g, "");
      const tilde = name === "~" || name.startsWith("~/") ? homeDir + name.slice(1) : name;
      for (const file of await globFiles(isAbsolute(tilde) ? tilde : join(sshDir, tilde))) {
        out.push(await expandIncludes(await readConfig(file), sshDir, homeDir, file, depth + 1));
      }
    }
  }
  return out.join("\n");
}

/** Files matching an absolute glob (wildcards in any component), sorted. */
async function globFiles(pattern: string): Promise<string[]> {
  if (!/[*?[]/.test(pattern)) return [pattern];
  const parts = pattern.split("/");
  const i = parts.findIndex((p) => /[*?[]/.test(p));
  const dir = parts.slice(0, i).join("/") || "/";
  const re = globRegExp(parts[i]!);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => re.test(n) && !(n.startsWith(".") && !parts[i]!.startsWith("."))).sort();
  const rest = parts.slice(i + 1);
  const found: string[] = [];
  for (const n of names) found.push(...(rest.length === 0 ? [join(dir, n)] : await globFiles(join(dir, n, ...rest))));
  return found;
}

async function readConfig(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw new ImzError("SSH_CONFIG", `cannot read ssh config ${path}`, {
      hint: "check the file's permissions",
      path,
      cause,
    });
  }
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function all(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
