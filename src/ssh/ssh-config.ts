/**
 * Resolves a host argument through OpenSSH's client configuration (`~/.ssh/config`):
 * Host, HostName, User, Port and IdentityFile, with OpenSSH's precedence — values given on
 * the command line win, then the first matching value in the file, then built-in defaults.
 * `Match exec` criteria are never evaluated (no shell runs while reading the config), and
 * `Include` directives are not followed (the ssh-config package does not expand them).
 */
import { readFile } from "node:fs/promises";
import { homedir, userInfo } from "node:os";
import { join } from "node:path";
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
}

/** Reads the config (if any) and resolves `alias`; a malformed value throws `SSH_CONFIG`. */
export async function resolveSshTarget(
  alias: string,
  overrides: SshTargetOverrides = {},
  source: SshConfigSource = {},
): Promise<SshTarget> {
  const homeDir = source.homeDir ?? homedir();
  const configPath = source.configPath ?? join(homeDir, ".ssh", "config");
  const localUser = source.localUser ?? userInfo().username;
  const text = await readConfig(configPath);
  const computed = SSHConfig.parse(text).compute(
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
  return { alias, hostName, user, port, identityFiles: files.map(expand) };
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
