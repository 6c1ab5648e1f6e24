/**
 * Ed25519 key pairs in OpenSSH's formats, made with `node:crypto`.
 *
 * ssh2's own `utils.generateKeyPairSync("ed25519")` strips leading zero bytes from the
 * 32-byte public key (mscdex/ssh2#1390, #1513), so about one key in 256 comes out 31 bytes
 * long and is then refused by every parser, ssh2's included. The encoding here is the
 * fixed-size one of RFC 8709 and OpenSSH's PROTOCOL.key (`openssh-key-v1`, unencrypted).
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";

/** An ed25519 key pair as OpenSSH writes it. */
export interface OpenSshKeyPair {
  /** `-----BEGIN OPENSSH PRIVATE KEY-----` text, unencrypted, ending in a newline. */
  readonly private: string;
  /** `ssh-ed25519 AAAA… comment`, one line without a newline. */
  readonly public: string;
  /** The public key in SSH wire format (what authorized_keys and known_hosts compare). */
  readonly wire: Buffer;
}

const KEY_TYPE = "ssh-ed25519";

/** SSH `string`: uint32 length, then the bytes. */
function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** Generates a new ed25519 key pair; `comment` goes into both halves, as with `ssh-keygen -C`. */
export function generateEd25519KeyPair(comment = ""): OpenSshKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d as string, "base64url");
  const pub = Buffer.from(publicKey.export({ format: "jwk" }).x as string, "base64url");
  const wire = Buffer.concat([sshString(KEY_TYPE), sshString(pub)]);

  const check = randomBytes(4);
  const section = Buffer.concat([
    check,
    check,
    sshString(KEY_TYPE),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  // Padded with 1, 2, 3, … to the cipher block size, which is 8 for "none".
  const padding = Buffer.from(Array.from({ length: (8 - (section.length % 8)) % 8 }, (_, i) => i + 1));
  const blob = Buffer.concat([
    Buffer.from("openssh-key-v1\0"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    Buffer.from([0, 0, 0, 1]),
    sshString(wire),
    sshString(Buffer.concat([section, padding])),
  ]);
  const lines = blob.toString("base64").match(/.{1,70}/g) ?? [];
  return {
    private: ["-----BEGIN OPENSSH PRIVATE KEY-----", ...lines, "-----END OPENSSH PRIVATE KEY-----", ""].join("\n"),
    public: [KEY_TYPE, wire.toString("base64"), ...(comment === "" ? [] : [comment])].join(" "),
    wire,
  };
}
