import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import ssh2 from "ssh2";
import {
  appendKnownHost,
  checkHostKey,
  entryMatches,
  formatKnownHostsLine,
  hostKeyError,
  keyFingerprint,
  knownHostsName,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  readKnownHosts,
} from "../../src/ssh/known-hosts.js";
import { generateEd25519KeyPair } from "../../src/ssh/keygen.js";

const run = promisify(execFile);

function newKey(type: "ed25519" | "ecdsa" = "ed25519"): { line: string; wire: Buffer } {
  const pair = type === "ed25519" ? generateEd25519KeyPair() : ssh2.utils.generateKeyPairSync("ecdsa", { bits: 256 });
  const [t, b64] = pair.public.split(" ") as [string, string];
  return { line: `${t} ${b64}`, wire: Buffer.from(b64, "base64") };
}

const A = newKey();
const B = newKey();
const E = newKey("ecdsa");
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "imz-kh-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("known_hosts names and patterns", () => {
  it("uses [host]:port except for port 22, lower-cased", () => {
    assert.equal(knownHostsName("Example.COM", 22), "example.com");
    assert.equal(knownHostsName("10.0.0.1", 2222), "[10.0.0.1]:2222");
  });

  const rows: [string, string, boolean][] = [
    ["example.com", "example.com", true],
    ["EXAMPLE.com", "example.com", true],
    ["foo,example.com,bar", "example.com", true],
    ["*.example.com", "www.example.com", true],
    ["*.example.com", "example.com", false],
    ["web?.example.com", "web1.example.com", true],
    ["*.example.com,!bad.example.com", "bad.example.com", false],
    ["[10.0.0.1]:2222", "[10.0.0.1]:2222", true],
    ["10.0.0.1", "[10.0.0.1]:2222", false],
    ["[10.0.0.1]:2222", "10.0.0.1", false],
    ["[10.0.0.1]:*", "[10.0.0.1]:2200", true],
    ["a.b", "axb", false],
  ];
  for (const [pattern, name, expected] of rows) {
    it(`${pattern} ${expected ? "matches" : "does not match"} ${name}`, () => {
      assert.equal(entryMatches(pattern, name), expected);
    });
  }
});

describe("parseKnownHosts", () => {
  it("keeps usable lines with file:line, skips comments, junk and @cert-authority", () => {
    const text = [
      "# comment",
      "",
      `host1 ${A.line} comment here`,
      "garbage",
      `@cert-authority *.example.com ${B.line}`,
      `@revoked * ${B.line}`,
      `host2 ssh-rsa ${A.line.split(" ")[1]}`, // type does not match the blob
      `[h]:2222,h2 ${E.line}`,
    ].join("\n");
    const kh = parseKnownHosts(text, "/kh");
    assert.deepEqual(
      kh.entries.map((e) => [e.line, e.hosts, e.revoked, e.keyType]),
      [
        [3, "host1", false, "ssh-ed25519"],
        [6, "*", true, "ssh-ed25519"],
        [8, "[h]:2222,h2", false, "ecdsa-sha2-nistp256"],
      ],
    );
    assert.ok(kh.entries.every((e) => e.file === "/kh"));
  });
});

describe("checkHostKey", () => {
  const cases: { name: string; text: string; host: string; port: number; key: Buffer; status: string; line?: number }[] = [
    { name: "plain ok", text: `example.com ${A.line}`, host: "example.com", port: 22, key: A.wire, status: "ok", line: 1 },
    { name: "port form ok", text: `[127.0.0.1]:2222 ${A.line}`, host: "127.0.0.1", port: 2222, key: A.wire, status: "ok" },
    { name: "bare host does not cover another port", text: `127.0.0.1 ${A.line}`, host: "127.0.0.1", port: 2222, key: A.wire, status: "unknown" },
    { name: "changed key of the same type", text: `x ${E.line}\nexample.com ${B.line}`, host: "example.com", port: 22, key: A.wire, status: "changed", line: 2 },
    { name: "other type only is unknown", text: `example.com ${E.line}`, host: "example.com", port: 22, key: A.wire, status: "unknown" },
    { name: "revoked beats ok", text: `example.com ${A.line}\n@revoked example.com ${A.line}`, host: "example.com", port: 22, key: A.wire, status: "revoked", line: 2 },
    { name: "revoked wildcard", text: `@revoked * ${A.line}`, host: "any", port: 2222, key: A.wire, status: "revoked" },
    { name: "revoked other key leaves ok", text: `@revoked * ${B.line}\nexample.com ${A.line}`, host: "example.com", port: 22, key: A.wire, status: "ok" },
    { name: "hashed ok", text: formatKnownHostsLine("example.com", 22, A.wire, true), host: "example.com", port: 22, key: A.wire, status: "ok" },
    { name: "hashed other host", text: formatKnownHostsLine("example.org", 22, A.wire, true), host: "example.com", port: 22, key: A.wire, status: "unknown" },
    { name: "hashed port form changed", text: formatKnownHostsLine("10.1.1.1", 2200, B.wire, true), host: "10.1.1.1", port: 2200, key: A.wire, status: "changed" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const verdict = checkHostKey([parseKnownHosts(c.text, "/kh")], c.host, c.port, c.key);
      assert.equal(verdict.status, c.status);
      if (c.line !== undefined && "entry" in verdict) assert.equal(verdict.entry.line, c.line);
    });
  }

  it("errors carry code, fingerprint, file:line and a hint", () => {
    const files = [parseKnownHosts(`# x\nexample.com ${B.line}`, "/home/u/.ssh/known_hosts")];
    const err = hostKeyError(checkHostKey(files, "example.com", 22, A.wire), "example.com", 22, A.wire, ["/home/u/.ssh/known_hosts"]);
    assert.equal(err?.code, "HOST_KEY_CHANGED");
    assert.ok(err?.message.includes(keyFingerprint(A.wire)));
    assert.ok(err?.message.includes("/home/u/.ssh/known_hosts:2"));
    assert.match(err?.hint ?? "", /ssh-keygen -R/);
    const unknown = hostKeyError(checkHostKey([], "h", 22, A.wire), "h", 22, A.wire, ["/kh"]);
    assert.equal(unknown?.code, "HOST_KEY_UNKNOWN");
    const revoked = hostKeyError(checkHostKey([parseKnownHosts(`@revoked h ${A.line}`, "/kh")], "h", 22, A.wire), "h", 22, A.wire, ["/kh"]);
    assert.equal(revoked?.code, "HOST_KEY_REVOKED");
    assert.ok(revoked?.message.includes("/kh:1"));
  });

  it("offers known key types first", () => {
    const files = [parseKnownHosts(`h ${E.line}`, "/kh")];
    assert.equal(preferredHostKeyAlgorithms(files, "h", 22)[0], "ecdsa-sha2-nistp256");
    assert.equal(preferredHostKeyAlgorithms([], "h", 22)[0], "ssh-ed25519");
  });
});

describe("compatibility with OpenSSH's ssh-keygen", () => {
  it("reads names hashed by ssh-keygen -H", async () => {
    const file = join(dir, "hash_me");
    await writeFile(file, `example.com ${A.line}\n[10.0.0.9]:2022 ${B.line}\n`);
    await run("ssh-keygen", ["-H", "-f", file]);
    const kh = await readKnownHosts(file);
    assert.ok(kh.entries.every((e) => e.hosts.startsWith("|1|")));
    assert.equal(checkHostKey([kh], "example.com", 22, A.wire).status, "ok");
    assert.equal(checkHostKey([kh], "10.0.0.9", 2022, B.wire).status, "ok");
  });

  it("writes hashed lines ssh-keygen -F can find", async () => {
    const file = join(dir, "ours");
    await appendKnownHost(file, formatKnownHostsLine("10.0.0.7", 2222, A.wire, true));
    const { stdout } = await run("ssh-keygen", ["-F", "[10.0.0.7]:2222", "-f", file]);
    assert.match(stdout, /Host \[10\.0\.0\.7\]:2222 found: line 1/);
  });

  it("appendKnownHost creates a 0600 file and adds a missing newline", async () => {
    const file = join(dir, "sub", "known_hosts");
    await appendKnownHost(file, "a ssh-ed25519 AAAA");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await writeFile(file, "no-newline");
    await appendKnownHost(file, "b");
    assert.equal(await readFile(file, "utf8"), "no-newline\nb\n");
  });

  it("reads a missing file as empty", async () => {
    assert.deepEqual((await readKnownHosts(join(dir, "nope"))).entries, []);
  });
});
