import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createLentoListener, initHostKey } from "../../src/ssh/listener.js";
import { openRemote } from "../../src/ssh/open-remote.js";
import { parseEndpoint } from "../../src/ssh/remote-path.js";
import type { SshExecChannel } from "../../src/ssh/ssh-exec.js";
import { startSshd } from "../helpers/sshd.js";
import type { TestSshd } from "../helpers/sshd.js";

let sshd: TestSshd;
let home: string;

before(async () => {
  sshd = await startSshd();
  home = await mkdtemp(join(tmpdir(), "imz-open-remote-"));
  await mkdir(join(home, ".ssh"));
  await writeFile(
    join(home, ".ssh", "config"),
    `Host box\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User root\n  IdentityFile ${sshd.userKeyPath}\n`,
  );
  await writeFile(join(home, ".ssh", "known_hosts"), `${sshd.knownHostsLine}\n`);
});
after(async () => {
  await sshd.stop();
  await rm(home, { recursive: true, force: true });
});

async function readAll(ch: SshExecChannel): Promise<string> {
  const parts: Buffer[] = [];
  ch.stream.on("data", (c: Buffer) => parts.push(c));
  await new Promise((r) => ch.stream.once("end", r));
  return Buffer.concat(parts).toString();
}

describe("openRemote", () => {
  it("resolves an ssh config alias and passes the remote path as one argument", async () => {
    const endpoint = parseEndpoint("box:/srv/my site");
    if (endpoint.kind !== "ssh") assert.fail("expected an ssh endpoint");
    const ch = await openRemote(endpoint, {
      sshConfig: { homeDir: home },
      agent: null,
      remoteCommand: "node -e 'process.stdout.write(JSON.stringify(process.argv.slice(1)))'",
    });
    try {
      ch.stream.end();
      assert.deepEqual(JSON.parse(await readAll(ch)), ["/srv/my site"]);
    } finally {
      await ch.close();
    }
  });

  it("reaches a Lento listener through imz://user@host:port/fileset", async () => {
    const hostKeyFile = join(home, "lento_host_key");
    const { publicKey } = await initHostKey(hostKeyFile);
    const authorized = join(home, "lento_authorized_keys");
    await writeFile(authorized, await readFile(`${sshd.userKeyPath}.pub`, "utf8"));
    const listener = createLentoListener({
      hostKeyFile,
      authorizedKeysFile: authorized,
      handler: (fileset, user, stream) => stream.end(`${user}:${fileset}`),
    });
    const { port } = await listener.start();
    try {
      await writeFile(join(home, ".ssh", "known_hosts"), `[127.0.0.1]:${port} ${publicKey}\n`, { flag: "a" });
      const endpoint = parseEndpoint(`imz://carol@127.0.0.1:${port}/docs`);
      if (endpoint.kind !== "lento") assert.fail("expected a lento endpoint");
      const ch = await openRemote(endpoint, { sshConfig: { homeDir: home }, agent: null, identityFiles: [sshd.userKeyPath] });
      try {
        assert.equal(await readAll(ch), "carol:docs");
        assert.equal((await ch.exit).code, 0);
      } finally {
        await ch.close();
      }
    } finally {
      await listener.close();
    }
  });
});
