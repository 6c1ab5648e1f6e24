/**
 * OpenSSH known_hosts, parsed and checked without I/O (except {@link appendKnownHost}).
 *
 * Supported: plain host patterns (comma lists, `*` and `?` wildcards, `!` negation,
 * case-insensitive), hashed names (`|1|base64 salt|base64 HMAC-SHA1(salt, name)`), the
 * `[host]:port` form for ports other than 22, and the `@revoked` marker. `@cert-authority`
 * lines are ignored (ssh2 does not speak host certificates). Malformed lines are skipped,
 * as OpenSSH does. The name looked up is the HostName the connection goes to.
 *
 * Verdict, over every file given, as OpenSSH decides it: the offered key on a matching
 * `@revoked` line ⇒ `revoked`; on a matching plain line ⇒ `ok`; a matching line holding a
 * different key of the same type ⇒ `changed`; otherwise `unknown`.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { ServerHostKeyAlgorithm } from "ssh2";
import { ImzError } from "../errors.js";

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  readonly revoked: boolean;
  /** The host field as written (patterns or a hashed name). */
  readonly hosts: string;
  /** Key type from the key blob itself (e.g. `ssh-ed25519`). */
  readonly keyType: string;
  /** The public key in SSH wire format. */
  readonly key: Buffer;
}

/** A parsed known_hosts file. */
export interface KnownHostsFile {
  readonly file: string;
  readonly entries: readonly KnownHostEntry[];
}

/** The outcome of checking an offered host key. */
export type HostKeyVerdict =
  | { readonly status: "ok"; readonly entry: KnownHostEntry }
  | { readonly status: "unknown"; readonly otherTypes: readonly string[] }
  | { readonly status: "changed"; readonly entry: KnownHostEntry }
  | { readonly status: "revoked"; readonly entry: KnownHostEntry };

/** The name known_hosts stores for a host: `host`, or `[host]:port` when the port is not 22. */
export function knownHostsName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

/** OpenSSH's fingerprint of a wire-format public key: `SHA256:` + unpadded base64. */
export function keyFingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** The key type named inside a wire-format public key, or `undefined` if malformed. */
export function keyTypeOf(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const len = key.readUInt32BE(0);
  if (len === 0 || len > 64 || key.length < 4 + len) return undefined;
  const type = key.toString("latin1", 4, 4 + len);
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

/** Parses known_hosts text; `file` is kept on every entry for messages. */
export function parseKnownHosts(text: string, file: string): KnownHostsFile {
  const entries: KnownHostEntry[] = [];
  text.split("\n").forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === "" || fields[0].startsWith("#")) return;
    let revoked = false;
    if (fields[0].startsWith("@")) {
      if (fields[0] !== "@revoked") return; // @cert-authority and unknown markers
      revoked = true;
      fields.shift();
    }
    const [hosts, type, base64] = fields;
    if (hosts === undefined || type === undefined || base64 === undefined) return;
    const key = Buffer.from(base64, "base64");
    const keyType = keyTypeOf(key);
    if (keyType === undefined || keyType !== type) return;
    entries.push({ file, line: index + 1, revoked, hosts, keyType, key });
  });
  return { file, entries };
}

/** True when an entry's host field matches the name `knownHostsName(host, port)`. */
export function entryMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith("|1|")) {
    const [, , salt, hash] = hosts.split("|");
    if (salt === undefined || hash === undefined) return false;
    const mac = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest();
    return mac.equals(Buffer.from(hash, "base64"));
  }
  let matched = false;
  for (const pattern of hosts.split(",")) {
    const negated = pattern.startsWith("!");
    if (!wildcardMatch(name, (negated ? pattern.slice(1) : pattern).toLowerCase())) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function wildcardMatch(text: string, pattern: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(text);
}

/** Checks `key`, offered by `host:port`, against the given files (user's first). */
export function checkHostKey(
  files: readonly KnownHostsFile[],
  host: string,
  port: number,
  key: Buffer,
): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const type = keyTypeOf(key);
  const matching = files.flatMap((f) => f.entries).filter((e) => entryMatches(e.hosts, name));
  const revoked = matching.find((e) => e.revoked && e.key.equals(key));
  if (revoked) return { status: "revoked", entry: revoked };
  const plain = matching.filter((e) => !e.revoked);
  const same = plain.find((e) => e.key.equals(key));
  if (same) return { status: "ok", entry: same };
  const changed = plain.find((e) => e.keyType === type);
  if (changed) return { status: "changed", entry: changed };
  return { status: "unknown", otherTypes: [...new Set(plain.map((e) => e.keyType))] };
}

/** ssh2's default host key algorithms, in its order of preference. */
const HOST_KEY_ALGORITHMS: readonly ServerHostKeyAlgorithm[] = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/**
 * Host key algorithms to offer, those whose key type is already known for the host first
 * (OpenSSH does the same), so a server with several host keys presents the one on file.
 */
export function preferredHostKeyAlgorithms(
  files: readonly KnownHostsFile[],
  host: string,
  port: number,
): ServerHostKeyAlgorithm[] {
  const name = knownHostsName(host, port);
  const known = new Set(
    files.flatMap((f) => f.entries).filter((e) => !e.revoked && entryMatches(e.hosts, name)).map((e) => e.keyType),
  );
  const isKnown = (algo: string): boolean => known.has(algo.startsWith("rsa-sha2-") ? "ssh-rsa" : algo);
  return [...HOST_KEY_ALGORITHMS.filter(isKnown), ...HOST_KEY_ALGORITHMS.filter((a) => !isKnown(a))];
}

/** The error for a verdict other than `ok` (then `undefined`); `files` are the paths consulted. */
export function hostKeyError(
  verdict: HostKeyVerdict,
  host: string,
  port: number,
  key: Buffer,
  files: readonly string[],
): ImzError | undefined {
  const name = knownHostsName(host, port);
  const offered = `${keyTypeOf(key) ?? "unknown"} key ${keyFingerprint(key)}`;
  switch (verdict.status) {
    case "ok":
      return undefined;
    case "unknown": {
      const others = verdict.otherTypes.length ? ` (keys of other types are known: ${verdict.otherTypes.join(", ")})` : "";
      return new ImzError(
        "HOST_KEY_UNKNOWN",
        `The authenticity of host '${name}' can't be established: its ${offered} is not in ${files.join(" or ")}${others}.`,
        { hint: "check the fingerprint with the host's administrator, then rerun with --accept-new", path: files[0] },
      );
    }
    case "changed": {
      const at = `${verdict.entry.file}:${verdict.entry.line}`;
      return new ImzError(
        "HOST_KEY_CHANGED",
        `REMOTE HOST IDENTIFICATION HAS CHANGED for '${name}': it offered ${offered}, but ${at} holds ` +
          `${keyFingerprint(verdict.entry.key)}. Someone could be eavesdropping (man-in-the-middle), or the host key was replaced.`,
        {
          hint: `if the change is expected, remove the old key (ssh-keygen -R '${name}' -f ${verdict.entry.file}) and reconnect`,
          path: verdict.entry.file,
        },
      );
    }
    case "revoked":
      return new ImzError(
        "HOST_KEY_REVOKED",
        `Host '${name}' offered ${offered}, which is marked @revoked at ${verdict.entry.file}:${verdict.entry.line}.`,
        { hint: "do not connect; ask the host's administrator for its new key", path: verdict.entry.file },
      );
  }
}

/** A known_hosts line for the key, the name hashed (`HashKnownHosts yes`) when `hash`. */
export function formatKnownHostsLine(host: string, port: number, key: Buffer, hash = false): string {
  const type = keyTypeOf(key);
  if (type === undefined) throw new ImzError("HOST_KEY_UNKNOWN", `malformed host key from ${host}`);
  let name = knownHostsName(host, port);
  if (hash) {
    const salt = randomBytes(20);
    name = `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
  }
  return `${name} ${type} ${key.toString("base64")}`;
}

/** Reads a known_hosts file; a missing file is empty. */
export async function readKnownHosts(file: string): Promise<KnownHostsFile> {
  try {
    return parseKnownHosts(await readFile(file, "utf8"), file);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return { file, entries: [] };
    throw new ImzError("SSH_CONFIG", `cannot read ${file}`, { hint: "check the file's permissions", path: file, cause });
  }
}

/** Appends a line to a known_hosts file, creating it (0600, directory 0700) if needed. */
export async function appendKnownHost(file: string, line: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  let existing = "";
  try {
    existing = await readFile(file, "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== "ENOENT") throw cause;
  }
  const sep = existing === "" || existing.endsWith("\n") ? "" : "\n";
  await appendFile(file, `${sep}${line}\n`, { mode: 0o600 });
}
