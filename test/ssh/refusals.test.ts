/**
 * What `intermezzo-sync` refuses when the remote side cannot be trusted or understood, run the way a
 * user runs it (`bin/intermezzo-sync` with HOME pointing at a client home) against a real OpenSSH
 * sshd and a real `intermezzo serve --listen` child. Every refusal exits 6 (REMOTE), names its error
 * code on stderr, and leaves both trees as they were (no file set is created on either side).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { runCli, SYNC_BIN, type CliResult } from "../helpers/cli.js";
import { clientHome, REMOTE_SERVE, startListenerChild, type ClientHome, type ListenerChild } from "../helpers/remote.js";
import { sshKeygen, startSshd, type TestSshd } from "../helpers/sshd.js";
import { manifest, tempDir } from "../helpers/tree.js";

let sshd: TestSshd;
let scratch: string;
let stranger: string;
let listener: ListenerChild | undefined;
const lentoDir = (): string => path.join(scratch, "lento", "docs");

before(async () => {
  sshd = await startSshd();
  scratch = tempDir("imz-refusals-");
  stranger = path.join(scratch, "stranger", "id_ed25519");
  const strangerPub = await sshKeygen(stranger, "stranger");
  // Lento's listener admits only the stranger's key, never the user key the sshd accepts.
  fs.mkdirSync(lentoDir(), { recursive: true });
  fs.writeFileSync(path.join(scratch, "lento", "authorized_keys"), `${strangerPub}\n`);
  listener = await startListenerChild([lentoDir()], path.join(scratch, "lento"), path.join(scratch, "lento", "authorized_keys"));
});
after(async () => {
  await listener?.stop();
  await sshd?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

let homes = 0;
/** A client home whose known_hosts holds exactly `known` (default: the sshd's real key). */
function home(known?: string[]): ClientHome {
  const h = clientHome(path.join(scratch, `home${homes++}`), sshd);
  if (known) fs.writeFileSync(h.knownHosts, known.map((l) => `${l}\n`).join(""));
  return h;
}

/** A local tree and an (empty) remote tree, both with one file. */
function trees(): { local: string; remote: string } {
  const local = path.join(scratch, `local${homes}`);
  const remote = path.join(scratch, `remote${homes}`);
  for (const d of [local, remote]) {
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `in-${path.basename(d)}`), "x");
  }
  return { local, remote };
}

function sync(h: ClientHome, args: string[]): Promise<CliResult> {
  return runCli(SYNC_BIN, ["--json", ...args], { env: h.env });
}

const sshUrl = (p: string): string => `ssh://root@127.0.0.1:${sshd.port}${p}`;

/** Exit 6, the error code on stderr, and no trace on either side. */
function refused(r: CliResult, code: string, t: { local: string; remote: string }): void {
  assert.equal(r.code, 6, `exit code 6 (REMOTE), got ${r.code}: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`error \\[${code}\\]`), r.stderr);
  assert.match(r.stderr, /hint: /, "the refusal says what to do");
  assert.equal(r.stdout, "", "no summary is printed");
  for (const d of [t.local, t.remote]) {
    assert.equal(FileSet.exists(d), false, `${d} did not become a file set`);
    assert.deepEqual(manifest(d).map((e) => e.path), [`in-${path.basename(d)}`]);
  }
}

describe("intermezzo-sync refuses an untrusted or incompatible remote (exit 6)", () => {
  it("control: with a known host key, an accepted user key and intermezzo on the remote, the same run syncs", async () => {
    const h = home();
    const t = trees();
    const r = await sync(h, ["-i", sshd.userKeyPath, "--remote-command", REMOTE_SERVE, t.local, sshUrl(t.remote)]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(manifest(t.remote), manifest(t.local));
  });

  it("an unknown host key: HOST_KEY_UNKNOWN, and known_hosts is not changed", async () => {
    const h = home([]);
    const t = trees();
    const r = await sync(h, ["-i", sshd.userKeyPath, "--remote-command", REMOTE_SERVE, t.local, sshUrl(t.remote)]);
    refused(r, "HOST_KEY_UNKNOWN", t);
    assert.equal(fs.readFileSync(h.knownHosts, "utf8"), "");
  });

  it("a changed host key: HOST_KEY_CHANGED, even with --accept-new", async () => {
    const impostor = (await sshKeygen(path.join(scratch, "impostor", "host"), "impostor")).split(" ");
    const line = `[127.0.0.1]:${sshd.port} ${impostor[0]} ${impostor[1]}`;
    const h = home([line]);
    const t = trees();
    const r = await sync(h, ["--accept-new", "-i", sshd.userKeyPath, "--remote-command", REMOTE_SERVE, t.local, sshUrl(t.remote)]);
    refused(r, "HOST_KEY_CHANGED", t);
    assert.equal(fs.readFileSync(h.knownHosts, "utf8"), `${line}\n`, "the recorded key is kept");
  });

  it("a user key the sshd does not accept: AUTH_FAILED", async () => {
    const h = home();
    const t = trees();
    const r = await sync(h, ["-i", stranger, "--remote-command", REMOTE_SERVE, t.local, sshUrl(t.remote)]);
    refused(r, "AUTH_FAILED", t);
  });

  it("a key not in Lento's authorized keys: AUTH_FAILED from the listener", async () => {
    const h = home([listener!.knownHostsLine]);
    const t = trees();
    const r = await sync(h, ["-i", sshd.userKeyPath, t.local, `imz://alice@127.0.0.1:${listener!.port}/docs`]);
    refused(r, "AUTH_FAILED", t);
    assert.equal(FileSet.exists(lentoDir()), false, "the listener's file set was never attached");
    assert.match(listener!.log(), /refused key SHA256:/);
  });

  it("no intermezzo on the remote host: REMOTE_NOT_FOUND", async () => {
    const h = home();
    const t = trees();
    const r = await sync(h, ["-i", sshd.userKeyPath, "--remote-command", "/no/such/intermezzo serve --stdio", t.local, sshUrl(t.remote)]);
    refused(r, "REMOTE_NOT_FOUND", t);
  });

  it("a remote speaking another protocol version: PROTOCOL_VERSION", async () => {
    const h = home();
    const t = trees();
    // The magic bytes and protocol version 99, then wait for the client to hang up.
    const fake = `${process.execPath} -e 'process.stdout.write(Buffer.from("89494d5a0d0a1a0a0063", "hex")); process.stdin.resume()'`;
    const r = await sync(h, ["-i", sshd.userKeyPath, "--remote-command", fake, t.local, sshUrl(t.remote)]);
    refused(r, "PROTOCOL_VERSION", t);
    assert.match(r.stderr, /protocol 99/);
  });
});
