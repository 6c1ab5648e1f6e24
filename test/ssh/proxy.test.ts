/**
 * ssh config routes: `ProxyJump` through a second real sshd (the jump host), one hop and two,
 * `ProxyCommand` through a small relay, `Include` with a glob under `~/.ssh`, and keywords that
 * would change where or how to connect refused by name. The target is named by a host name only
 * the jump host resolves (it runs with a private /etc/hosts), so a skipped proxy fails: the direct
 * route is checked to fail too.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { openRemote } from "../../src/ssh/open-remote.js";
import { parseEndpoint } from "../../src/ssh/remote-path.js";
import type { SshExecChannel } from "../../src/ssh/ssh-exec.js";
import { syncJson } from "../helpers/cli.js";
import { REMOTE_SERVE } from "../helpers/remote.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { manifest, tempDir } from "../helpers/tree.js";

const TARGET_NAME = "imz-target.test";
const JUMP_NAME = "imz-jump.test";
const ECHO_ARGS = `${process.execPath} -e 'process.stdout.write(JSON.stringify(process.argv.slice(1)))'`;

let target: TestSshd;
let jump: TestSshd;
let home: string;
const dirs: string[] = [];

/** The relay a ProxyCommand runs: refuses any host but the target's name, then pipes stdio to 127.0.0.1:port. */
const RELAY = `
const [host, port] = process.argv.slice(2);
if (host !== ${JSON.stringify(TARGET_NAME)}) { process.stderr.write("relay: unexpected host " + host + "\\n"); process.exit(9); }
const s = require("node:net").connect(Number(port), "127.0.0.1");
process.stdin.pipe(s);
s.pipe(process.stdout);
s.on("close", () => process.exit(0));
`;

before(async () => {
  target = await startSshd();
  jump = await startSshd({ forwarding: true, hosts: { [TARGET_NAME]: "127.0.0.1", [JUMP_NAME]: "127.0.0.1" } });
  home = tempDir("imz-proxy-home-");
  dirs.push(home);
  const ssh = path.join(home, ".ssh");
  fs.mkdirSync(path.join(ssh, "conf.d"), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(home, "relay.js"), RELAY);
  const [type, key] = target.hostKeyPub.split(" ");
  const [jtype, jkey] = jump.hostKeyPub.split(" ");
  fs.writeFileSync(
    path.join(ssh, "known_hosts"),
    [`[${TARGET_NAME}]:${target.port} ${type} ${key}`, jump.knownHostsLine, `[${JUMP_NAME}]:${jump.port} ${jtype} ${jkey}`, ""].join("\n"),
  );
  const targetHost = [`  HostName ${TARGET_NAME}`, `  Port ${target.port}`, "  User root", `  IdentityFile ${target.userKeyPath}`];
  const jumpHost = [`  Port ${jump.port}`, "  User root", `  IdentityFile ${jump.userKeyPath}`];
  // the main file only includes: the hosts are found through Include with a glob
  fs.writeFileSync(path.join(ssh, "config"), "Include conf.d/*.conf\n");
  fs.writeFileSync(path.join(ssh, "conf.d", "00-unused.txt"), "Host target\n  HostName 192.0.2.1\n");
  fs.writeFileSync(
    path.join(ssh, "conf.d", "10-hosts.conf"),
    [
      "Host target", ...targetHost, "  ProxyJump jumphost",
      "Host twohops", ...targetHost, "  ProxyJump jumphost,innerjump",
      "Host viacmd", ...targetHost, `  ProxyCommand ${process.execPath} ${path.join(home, "relay.js")} %h %p`,
      "Host direct", ...targetHost,
      "Host aliased", ...targetHost, "  HostKeyAlias other", "  ProxyJump jumphost",
      "Host ciphered", ...targetHost, "  Ciphers aes256-ctr", "  ProxyJump jumphost",
      "Host jumphost", "  HostName 127.0.0.1", ...jumpHost,
      "Host innerjump", `  HostName ${JUMP_NAME}`, ...jumpHost,
      "Match host matched exec \"true\"", "  HostName 127.0.0.1",
      "",
    ].join("\n"),
  );
});
after(async () => {
  await target?.stop();
  await jump?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function echo(host: string): Promise<unknown> {
  const endpoint = parseEndpoint(`${host}:/srv/a b`);
  if (endpoint.kind !== "ssh") assert.fail("expected an ssh endpoint");
  const ch: SshExecChannel = await openRemote(endpoint, { sshConfig: { homeDir: home }, homeDir: home, agent: null, remoteCommand: ECHO_ARGS });
  try {
    ch.stream.end();
    const parts: Buffer[] = [];
    for await (const c of ch.stream) parts.push(c as Buffer);
    return JSON.parse(Buffer.concat(parts).toString());
  } finally {
    await ch.close();
  }
}

async function refusal(host: string): Promise<{ code: string; message: string }> {
  try {
    await echo(host);
  } catch (err) {
    assert.ok(isImzError(err), String(err));
    return { code: err.code, message: err.message };
  }
  assert.fail(`${host}: connected`);
}

describe("ssh config routes: ProxyJump, ProxyCommand, Include", () => {
  it("the direct route to the target fails (its name resolves only on the jump host)", async () => {
    const r = await refusal("direct");
    assert.equal(r.code, "CONNECTION_LOST");
    assert.match(r.message, /ENOTFOUND|EAI_AGAIN/);
  });

  it("ProxyJump reaches the target through the jump host (hosts found through Include conf.d/*.conf)", async () => {
    assert.deepEqual(await echo("target"), ["/srv/a b"]);
  });

  it("ProxyJump with two hops: the second hop is reached through the first", async () => {
    assert.deepEqual(await echo("twohops"), ["/srv/a b"]);
  });

  it("ProxyCommand runs the relay with %h and %p and speaks SSH over its stdio", async () => {
    assert.deepEqual(await echo("viacmd"), ["/srv/a b"]);
  });

  it("refuses HostKeyAlias, Ciphers and Match exec by name instead of ignoring them", async () => {
    for (const [host, word] of [["aliased", "hostkeyalias"], ["ciphered", "ciphers"], ["matched", "Match exec"]] as const) {
      const r = await refusal(host);
      assert.equal(r.code, "SSH_CONFIG", `${host}: ${r.message}`);
      assert.ok(r.message.includes(word), r.message);
      assert.match(r.message, /not supported/);
    }
  });

  it("intermezzo-sync syncs through ProxyJump", async () => {
    const local = tempDir("imz-proxy-local-");
    const remote = tempDir("imz-proxy-remote-");
    dirs.push(local, remote);
    fs.writeFileSync(path.join(local, "hello.txt"), "through the bastion\n");
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env["SSH_AUTH_SOCK"];
    const r = await syncJson(["--remote-command", REMOTE_SERVE, local, `target:${remote}`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(manifest(remote), manifest(local));
  });
});
