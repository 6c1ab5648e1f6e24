import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import ssh2 from "ssh2";
import { generateEd25519KeyPair } from "../../src/ssh/keygen.js";
import type { OpenSshKeyPair } from "../../src/ssh/keygen.js";

const run = promisify(execFile);
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "imz-keygen-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The 32 raw public-key bytes at the end of the wire form. */
const rawPublic = (pair: OpenSshKeyPair): Buffer => pair.wire.subarray(pair.wire.length - 32);

/** Generates pairs until one's raw public key starts with a zero byte (about one in 256). */
function pairWithLeadingZero(): OpenSshKeyPair {
  for (;;) {
    const pair = generateEd25519KeyPair("zero");
    if (rawPublic(pair)[0] === 0) return pair;
  }
}

/** Checks a pair with OpenSSH: `ssh-keygen -y` derives the same public key from the private file. */
async function checkWithOpenSsh(pair: OpenSshKeyPair, name: string): Promise<void> {
  const file = join(dir, name);
  await writeFile(file, pair.private, { mode: 0o600 });
  const { stdout } = await run("ssh-keygen", ["-y", "-f", file]);
  assert.equal(stdout.trim(), pair.public);
}

describe("ed25519 key generation", () => {
  it("writes keys that OpenSSH and ssh2 read back as the same pair, comment included", async () => {
    const pair = generateEd25519KeyPair("imz test");
    assert.match(pair.public, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} imz test$/);
    await checkWithOpenSsh(pair, "plain");
    const priv = ssh2.utils.parseKey(pair.private);
    const pub = ssh2.utils.parseKey(pair.public);
    assert.ok(!(priv instanceof Error) && priv.isPrivateKey(), String(priv));
    assert.ok(!(pub instanceof Error), String(pub));
    assert.ok(priv.getPublicSSH().equals(pair.wire));
    assert.ok(pub.getPublicSSH().equals(pair.wire));
    assert.equal(priv.comment, "imz test");
    const data = Buffer.from("signed by the host key");
    assert.ok(pub.verify(data, priv.sign(data)));
  });

  it("keeps a public key whose first byte is zero at 32 bytes (ssh2's own generator drops it)", async () => {
    const pair = pairWithLeadingZero();
    assert.equal(rawPublic(pair).length, 32);
    await checkWithOpenSsh(pair, "zero");
    const priv = ssh2.utils.parseKey(pair.private);
    assert.ok(!(priv instanceof Error) && priv.getPublicSSH().equals(pair.wire), String(priv));
  });

  it("pads the private section for every comment length", async () => {
    for (let n = 0; n < 8; n++) {
      const pair = generateEd25519KeyPair("c".repeat(n));
      await checkWithOpenSsh(pair, `pad${n}`);
    }
  });
});
