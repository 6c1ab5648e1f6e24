/**
 * OpenSSH authorized_keys parsing for Lento's listener. Each line is
 * `[options] keytype base64 [comment]`. The listener enforces no-pty, no forwarding and a
 * fixed command by itself, so lines whose options only ask for that (`restrict`, `no-pty`,
 * `no-port-forwarding`, `no-agent-forwarding`, `no-X11-forwarding`, `no-user-rc`) are
 * used; a line with any other option (`command=`, `from=`, `expiry-time=`,
 * `cert-authority`, …) cannot be honoured and is skipped, so that key is not authorized.
 */
import { readFile } from "node:fs/promises";
import type { ParsedKey } from "ssh2";
import { ImzError } from "../errors.js";
import { onFirstUse } from "../on-first-use.js";

const ssh2 = onFirstUse<typeof import("ssh2")>("ssh2");

/** An authorized public key with where it came from. */
export interface AuthorizedKey {
  readonly key: ParsedKey;
  readonly line: number;
  readonly comment: string;
}

/** Parsed authorized_keys: usable keys and the lines that were skipped, with why. */
export interface AuthorizedKeys {
  readonly keys: readonly AuthorizedKey[];
  readonly skipped: readonly { readonly line: number; readonly reason: string }[];
}

const HARMLESS_OPTIONS = new Set([
  "restrict",
  "no-pty",
  "no-port-forwarding",
  "no-agent-forwarding",
  "no-x11-forwarding",
  "no-user-rc",
]);

const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)$/;

/** Parses authorized_keys text. */
export function parseAuthorizedKeys(text: string): AuthorizedKeys {
  const keys: AuthorizedKey[] = [];
  const skipped: { line: number; reason: string }[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const [options, rest] = splitOptions(line);
    const bad = options.find((o) => !HARMLESS_OPTIONS.has(o.toLowerCase()));
    if (bad !== undefined) {
      skipped.push({ line: index + 1, reason: `option ${bad} is not supported by the listener` });
      return;
    }
    const [type, base64, ...comment] = rest.split(/\s+/);
    if (type === undefined || base64 === undefined || !KEY_TYPE.test(type)) {
      skipped.push({ line: index + 1, reason: "not a public key line" });
      return;
    }
    const key = ssh2().utils.parseKey(`${type} ${base64}`);
    if (key instanceof Error || key.isPrivateKey()) {
      skipped.push({ line: index + 1, reason: key instanceof Error ? key.message : "private key" });
      return;
    }
    keys.push({ key, line: index + 1, comment: comment.join(" ") });
  });
  return { keys, skipped };
}

/** Splits a leading option list (comma-separated, `"…"` quoting) into option names and the key part. */
function splitOptions(line: string): [string[], string] {
  if (KEY_TYPE.test(line.split(/\s/, 1)[0] ?? "")) return [[], line];
  const options: string[] = [];
  let current = "";
  let quoted = false;
  let i = 0;
  for (; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted && c === "\\") {
      current += c + (line[++i] ?? "");
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === ",") {
      options.push(current);
      current = "";
      continue;
    } else if (!quoted && /\s/.test(c)) break;
    current += c;
  }
  options.push(current);
  return [options.map((o) => o.split("=", 1)[0] as string), line.slice(i).trim()];
}

/** Reads and parses an authorized_keys file; unreadable → `SSH_CONFIG`. */
export async function readAuthorizedKeys(file: string): Promise<AuthorizedKeys> {
  try {
    return parseAuthorizedKeys(await readFile(file, "utf8"));
  } catch (cause) {
    throw new ImzError("SSH_CONFIG", `cannot read authorized keys ${file}`, {
      hint: "create it with one OpenSSH public key per line (the clients' ~/.ssh/id_*.pub)",
      path: file,
      cause,
    });
  }
}

/** The authorized entry holding exactly this public key (SSH wire format), if any. */
export function findAuthorizedKey(keys: AuthorizedKeys, publicKey: Buffer): AuthorizedKey | undefined {
  return keys.keys.find((k) => k.key.getPublicSSH().equals(publicKey));
}
