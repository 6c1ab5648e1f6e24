import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import { after, before, describe, it } from "node:test";
import ssh2 from "ssh2";
import { isImzError } from "../../src/errors.js";
import { createLentoListener, initHostKey, parseServeCommand } from "../../src/ssh/listener.js";
import type { LentoListener, LentoListenerOptions } from "../../src/ssh/listener.js";
import { DEFAULT_REMOTE_COMMAND, sshExec } from "../../src/ssh/ssh-exec.js";
import type { SshExecOptions } from "../../src/ssh/ssh-exec.js";
import { sshKeygen } from "../helpers/sshd.js";

let dir: string;
let hostKeyFile: string;
let hostPub: string;
let clientKey: string;
let strangerKey: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "imz-listener-"));
  hostKeyFile = join(dir, "host_key");
  const created = await initHostKey(hostKeyFile);
  assert.equal(created.created, true);
  hostPub = created.publicKey;
  clientKey = join(dir, "client", "id_ed25519");
  const clientPub = await sshKeygen(clientKey);
  strangerKey = join(dir, "stranger", "id_ed25519");
  await sshKeygen(strangerKey);
  await writeFile(join(dir, "authorized_keys"), `# clients\nno-pty,no-port-forwarding ${clientPub}\n`);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Served {
  readonly fileset: string;
  readonly user: string;
}

/** Starts a listener whose handler echoes every byte back; runs `body`; always closes it. */
async function withListener(
  extra: Partial<LentoListenerOptions>,
  body: (port: number, served: Served[], listener: LentoListener) => Promise<void>,
): Promise<void> {
  const served: Served[] = [];
  const listener = createLentoListener({
    hostKeyFile,
    authorizedKeysFile: join(dir, "authorized_keys"),
    handler: (fileset: string, user: string, stream: Duplex) => {
      served.push({ fileset, user });
      stream.on("error", () => undefined);
      stream.pipe(stream);
    },
    ...extra,
  });
  const { port } = await listener.start();
  try {
    await body(port, served, listener);
  } finally {
    await listener.close();
  }
}

async function client(port: number, extra: Partial<SshExecOptions> = {}): Promise<ReturnType<typeof sshExec>> {
  const kh = join(dir, `kh-${port}`);
  await writeFile(kh, `[127.0.0.1]:${port} ${hostPub}\n`);
  return sshExec({
    host: "127.0.0.1",
    port,
    user: "alice",
    identityFiles: [clientKey],
    agent: null,
    knownHostsFiles: [kh],
    args: ["docs"],
    ...extra,
  });
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => isImzError(err) && err.code === code);
}

describe("Lento listener", () => {
  it("initHostKey creates a 0600 ed25519 key once and then reuses it", async () => {
    assert.equal((await stat(hostKeyFile)).mode & 0o777, 0o600);
    const again = await initHostKey(hostKeyFile);
    assert.equal(again.created, false);
    assert.equal(again.publicKey, hostPub);
    assert.match(again.fingerprint, /^SHA256:/);
    assert.equal((await readFile(`${hostKeyFile}.pub`, "utf8")).trim(), hostPub);
  });

  it("parses only `intermezzo serve --stdio FILESET`", () => {
    assert.equal(parseServeCommand("intermezzo serve --stdio docs"), "docs");
    assert.equal(parseServeCommand("/opt/imz/bin/intermezzo serve --stdio 'web.1'"), "web.1");
    for (const bad of ["cat", "intermezzo serve --stdio", "intermezzo serve --stdio ../x", "intermezzo serve --stdio a b", "intermezzo serve --stdio $(id)", "sh -c 'intermezzo serve --stdio x'"]) {
      assert.equal(parseServeCommand(bad), undefined, bad);
    }
  });

  it("lets an authorized key exec `intermezzo serve --stdio NAME` and round-trips bytes", async () => {
    await withListener({}, async (port, served) => {
      const ch = await client(port);
      try {
        assert.equal(ch.command, `${DEFAULT_REMOTE_COMMAND} docs`);
        const data = randomBytes(4 * 1024 * 1024);
        const hash = createHash("sha256");
        let n = 0;
        ch.stream.on("data", (c: Buffer) => {
          hash.update(c);
          n += c.length;
        });
        const ended = new Promise((r) => ch.stream.once("end", r));
        ch.stream.end(data);
        await ended;
        assert.equal(n, data.length);
        assert.equal(hash.digest("hex"), createHash("sha256").update(data).digest("hex"));
        assert.deepEqual(served, [{ fileset: "docs", user: "alice" }]);
        assert.equal((await ch.exit).code, 0);
      } finally {
        await ch.close();
      }
    });
  });

  it("refuses a key that is not in authorized_keys (AUTH_FAILED)", async () => {
    await withListener({}, async (port, served) => {
      await rejectsWith(client(port, { identityFiles: [strangerKey] }), "AUTH_FAILED");
      assert.equal(served.length, 0);
    });
  });

  it("admits a newly authorized key after reloadAuthorizedKeys()", async () => {
    const file = join(dir, "authorized_keys_reload");
    await writeFile(file, await readFile(`${clientKey}.pub`, "utf8"));
    await withListener({ authorizedKeysFile: file }, async (port, _served, listener) => {
      await rejectsWith(client(port, { identityFiles: [strangerKey] }), "AUTH_FAILED");
      await writeFile(file, await readFile(`${strangerKey}.pub`, "utf8"), { flag: "a" });
      await listener.reloadAuthorizedKeys();
      const ch = await client(port, { identityFiles: [strangerKey] });
      await ch.close();
    });
  });

  it("refuses other commands, shell, pty, sftp and port forwarding", async () => {
    await withListener({}, async (port, served) => {
      await rejectsWith(client(port, { remoteCommand: "cat", args: [] }), "REMOTE_ERROR");
      const ready = new ssh2.Client();
      try {
        await new Promise<void>((resolve, reject) => {
          ready.once("ready", resolve).once("error", reject);
          readFile(clientKey).then((key) => ready.connect({ host: "127.0.0.1", port, username: "alice", privateKey: key }), reject);
        });
        const refused = (start: (cb: (err: Error | undefined) => void) => void): Promise<boolean> =>
          new Promise((resolve) => start((err) => resolve(err !== undefined)));
        assert.ok(await refused((cb) => ready.shell((err) => cb(err))), "shell refused");
        assert.ok(await refused((cb) => ready.shell({ term: "xterm" }, (err) => cb(err))), "pty refused");
        assert.ok(await refused((cb) => ready.sftp((err) => cb(err))), "sftp refused");
        assert.ok(await refused((cb) => ready.forwardOut("127.0.0.1", 1, "127.0.0.1", 22, (err) => cb(err))), "direct-tcpip refused");
        assert.ok(await refused((cb) => ready.forwardIn("127.0.0.1", 0, (err) => cb(err))), "tcpip-forward refused");
        assert.equal(served.length, 0);
      } finally {
        ready.end();
      }
    });
  });

  it("enforces the connection bound", async () => {
    await withListener({ maxConnections: 2 }, async (port, served) => {
      const a = await client(port);
      const b = await client(port);
      try {
        await rejectsWith(client(port), "CONNECTION_LOST");
        assert.equal(served.length, 2);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });

  it("drops a connection that does not authenticate in time", async () => {
    await withListener({ authTimeoutMs: 200 }, async (port) => {
      const sock = connect(port, "127.0.0.1");
      sock.on("data", () => undefined);
      const started = Date.now();
      await new Promise((r) => sock.once("close", r));
      assert.ok(Date.now() - started < 5000);
    });
  });

  it("bounds unauthenticated connections", async () => {
    await withListener({ maxUnauthenticated: 1 }, async (port) => {
      const idle = connect(port, "127.0.0.1");
      idle.on("data", () => undefined);
      await new Promise((r) => idle.once("connect", r));
      try {
        await rejectsWith(client(port), "CONNECTION_LOST");
      } finally {
        idle.destroy();
      }
    });
  });

  it("closes the handler's stream without 'end' when the client vanishes", async () => {
    let closedEarly: Promise<boolean> | undefined;
    const listener = createLentoListener({
      hostKeyFile,
      authorizedKeysFile: join(dir, "authorized_keys"),
      handler: (_fileset, _user, stream) => {
        let ended = false;
        stream.on("end", () => (ended = true)).resume();
        closedEarly = new Promise((r) => stream.once("close", () => r(!ended)));
      },
    });
    const { port } = await listener.start();
    try {
      const ch = await client(port);
      ch.stream.write("partial");
      await new Promise((r) => setTimeout(r, 50));
      await ch.close();
      assert.equal(await closedEarly, true);
    } finally {
      await listener.close();
    }
  });

  it("turns a throwing handler into exit status 1 with a stderr line", async () => {
    const listener = createLentoListener({
      hostKeyFile,
      authorizedKeysFile: join(dir, "authorized_keys"),
      handler: () => {
        throw new Error("boom");
      },
    });
    const { port } = await listener.start();
    try {
      const ch = await client(port);
      try {
        ch.stream.resume();
        const exit = await ch.exit;
        assert.equal(exit.code, 1);
        assert.match(exit.stderr, /internal error serving docs/);
      } finally {
        await ch.close();
      }
    } finally {
      await listener.close();
    }
  });

  it("reports a dropped connection as CONNECTION_LOST on the stream", async () => {
    await withListener({}, async (port, _served, listener) => {
      const ch = await client(port);
      try {
        const failed = new Promise<unknown>((r) => ch.stream.once("error", r));
        await listener.close();
        const err = await failed;
        assert.ok(isImzError(err, "CONNECTION_LOST"));
        assert.ok(isImzError((await ch.exit).lost, "CONNECTION_LOST"));
      } finally {
        await ch.close();
      }
    });
  });
});
