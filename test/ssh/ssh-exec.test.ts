import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { isImzError } from "../../src/errors.js";
import { explainRemoteExit, sshExec } from "../../src/ssh/ssh-exec.js";
import type { SshExecChannel, SshExecOptions } from "../../src/ssh/ssh-exec.js";
import { freePort, sshKeygen, startSshd } from "../helpers/sshd.js";
import type { TestSshd } from "../helpers/sshd.js";

const run = promisify(execFile);
let sshd: TestSshd;
let scratch: string;

before(async () => {
  sshd = await startSshd();
  scratch = await mkdtemp(join(tmpdir(), "imz-ssh-exec-"));
});
after(async () => {
  await sshd.stop();
  await rm(scratch, { recursive: true, force: true });
});

let homes = 0;
/** A fresh home dir whose ~/.ssh/known_hosts holds `knownHosts`. */
async function home(knownHosts: string): Promise<string> {
  const dir = join(scratch, `home${homes++}`);
  await mkdir(join(dir, ".ssh"), { recursive: true });
  await writeFile(join(dir, ".ssh", "known_hosts"), knownHosts);
  return dir;
}

function opts(homeDir: string, extra: Partial<SshExecOptions> = {}): SshExecOptions {
  return {
    host: "127.0.0.1",
    port: sshd.port,
    user: "root",
    homeDir,
    knownHostsFiles: [join(homeDir, ".ssh", "known_hosts")],
    identityFiles: [sshd.userKeyPath],
    agent: null,
    remoteCommand: "cat",
    ...extra,
  };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isImzError(err), `expected ImzError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.hint, "error carries a hint");
    return err;
  }
  assert.fail(`expected ${code}`);
}

async function echo(ch: SshExecChannel, data: Buffer): Promise<Buffer> {
  const got: Buffer[] = [];
  ch.stream.on("data", (c: Buffer) => got.push(c));
  const ended = new Promise((r) => ch.stream.once("end", r));
  ch.stream.end(data);
  await ended;
  return Buffer.concat(got);
}

describe("sshExec against a real OpenSSH sshd", () => {
  it("round-trips bytes through cat", async () => {
    const ch = await sshExec(opts(await home(`${sshd.knownHostsLine}\n`)));
    try {
      assert.equal(ch.command, "cat");
      assert.deepEqual(await echo(ch, Buffer.from("hello intermezzo\n")), Buffer.from("hello intermezzo\n"));
      const exit = await ch.exit;
      assert.equal(exit.code, 0);
      assert.equal(exit.lost, undefined);
    } finally {
      await ch.close();
    }
  });

  it("moves 10 MiB both ways with backpressure", async () => {
    const ch = await sshExec(opts(await home(`${sshd.knownHostsLine}\n`)));
    try {
      const chunk = 64 * 1024;
      const data = randomBytes(10 * 1024 * 1024);
      const hash = createHash("sha256");
      let received = 0;
      let pauses = 0;
      ch.stream.on("data", (c: Buffer) => {
        hash.update(c);
        received += c.length;
      });
      const ended = new Promise((r) => ch.stream.once("end", r));
      for (let off = 0; off < data.length; off += chunk) {
        if (!ch.stream.write(data.subarray(off, off + chunk))) {
          pauses++;
          await new Promise((r) => ch.stream.once("drain", r));
        }
      }
      ch.stream.end();
      await ended;
      assert.equal(received, data.length);
      assert.equal(hash.digest("hex"), createHash("sha256").update(data).digest("hex"));
      assert.ok(pauses > 0, "the writer was held back at least once");
      assert.equal((await ch.exit).code, 0);
    } finally {
      await ch.close();
    }
  });

  it("execs node from PATH and shell-quotes arguments", async () => {
    const ch = await sshExec(
      opts(await home(`${sshd.knownHostsLine}\n`), {
        remoteCommand: "node -e 'process.stdout.write(JSON.stringify(process.argv.slice(1)))'",
        args: ["a b", "it's", "$HOME"],
      }),
    );
    try {
      assert.deepEqual(JSON.parse((await echo(ch, Buffer.alloc(0))).toString()), ["a b", "it's", "$HOME"]);
    } finally {
      await ch.close();
    }
  });

  it("uses ~/.ssh/id_ed25519 and ~/.ssh/known_hosts by default", async () => {
    const dir = await home(`${sshd.knownHostsLine}\n`);
    await copyFile(sshd.userKeyPath, join(dir, ".ssh", "id_ed25519"));
    const ch = await sshExec({ host: "127.0.0.1", port: sshd.port, user: "root", homeDir: dir, agent: null, remoteCommand: "cat" });
    try {
      assert.deepEqual(await echo(ch, Buffer.from("x")), Buffer.from("x"));
    } finally {
      await ch.close();
    }
  });

  it("authenticates through ssh-agent", async () => {
    const sock = join(scratch, "agent.sock");
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    const agentGone = new Promise((r) => agent.once("exit", r));
    try {
      for (let i = 0; i < 50; i++) {
        if (await run("ssh-add", ["-l"], { env: { SSH_AUTH_SOCK: sock } }).then(() => true, (e: { code?: number }) => e.code === 1)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await run("ssh-add", [sshd.userKeyPath], { env: { SSH_AUTH_SOCK: sock } });
      const ch = await sshExec(opts(await home(`${sshd.knownHostsLine}\n`), { agent: sock, identityFiles: [] }));
      try {
        assert.deepEqual(await echo(ch, Buffer.from("via agent")), Buffer.from("via agent"));
      } finally {
        await ch.close();
      }
    } finally {
      agent.kill("SIGTERM");
      await agentGone;
    }
  });

  it("refuses an unknown host key (HOST_KEY_UNKNOWN)", async () => {
    const err = await rejectsWith(sshExec(opts(await home(""))), "HOST_KEY_UNKNOWN");
    assert.match(err.message, /SHA256:[A-Za-z0-9+/]{43}/);
  });

  it("refuses a changed host key and names the file:line (HOST_KEY_CHANGED)", async () => {
    const other = await sshKeygen(join(scratch, "other_host"));
    const dir = await home(`# comment\n[127.0.0.1]:${sshd.port} ${other.split(" ").slice(0, 2).join(" ")}\n`);
    const err = await rejectsWith(sshExec(opts(dir)), "HOST_KEY_CHANGED");
    assert.ok(err.message.includes(`${join(dir, ".ssh", "known_hosts")}:2`), err.message);
  });

  it("refuses a revoked host key (HOST_KEY_REVOKED)", async () => {
    const pub = sshd.hostKeyPub.split(" ").slice(0, 2).join(" ");
    await rejectsWith(sshExec(opts(await home(`${sshd.knownHostsLine}\n@revoked * ${pub}\n`))), "HOST_KEY_REVOKED");
  });

  it("refuses a user key the server does not know (AUTH_FAILED)", async () => {
    const stranger = join(scratch, "stranger", "id_ed25519");
    await sshKeygen(stranger);
    await rejectsWith(sshExec(opts(await home(`${sshd.knownHostsLine}\n`), { identityFiles: [stranger] })), "AUTH_FAILED");
  });

  it("reports a missing remote command as REMOTE_NOT_FOUND", async () => {
    const ch = await sshExec(opts(await home(`${sshd.knownHostsLine}\n`), { remoteCommand: "no-such-cmd" }));
    try {
      const got: Buffer[] = [];
      ch.stream.on("data", (c: Buffer) => got.push(c));
      const exit = await ch.exit;
      assert.equal(Buffer.concat(got).length, 0, "no output before the end");
      assert.equal(exit.code, 127);
      const err = explainRemoteExit(exit, ch.command);
      assert.equal(err.code, "REMOTE_NOT_FOUND");
      assert.match(err.message, /no-such-cmd/);
    } finally {
      await ch.close();
    }
  });

  it("--accept-new records an unknown key, then strict checking accepts it", async () => {
    for (const hash of [false, true]) {
      const dir = await home("");
      const file = join(dir, ".ssh", "known_hosts");
      const first = await sshExec(opts(dir, { hostKeyPolicy: "accept-new", hashKnownHosts: hash }));
      await first.close();
      const text = await readFile(file, "utf8");
      assert.equal(text.trim().split("\n").length, 1);
      assert.equal(text.startsWith("|1|"), hash);
      const again = await sshExec(opts(dir));
      await again.close();
    }
  });

  it("--accept-new never replaces a changed key", async () => {
    const other = await sshKeygen(join(scratch, "other_host2"));
    const before = `[127.0.0.1]:${sshd.port} ${other.split(" ").slice(0, 2).join(" ")}\n`;
    const dir = await home(before);
    await rejectsWith(sshExec(opts(dir, { hostKeyPolicy: "accept-new" })), "HOST_KEY_CHANGED");
    assert.equal(await readFile(join(dir, ".ssh", "known_hosts"), "utf8"), before);
  });

  it("reports a refused connection as CONNECTION_LOST", async () => {
    await rejectsWith(sshExec(opts(await home(""), { port: await freePort() })), "CONNECTION_LOST");
  });
});
