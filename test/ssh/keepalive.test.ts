import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { createLentoListener, initHostKey } from "../../src/ssh/listener.js";
import type { LentoListener } from "../../src/ssh/listener.js";
import { sshExec } from "../../src/ssh/ssh-exec.js";
import { sshKeygen } from "../helpers/sshd.js";

let dir: string;
let listener: LentoListener;
let port: number;
let hostPub: string;
let key: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "imz-keepalive-"));
  hostPub = (await initHostKey(join(dir, "host_key"))).publicKey;
  key = join(dir, "id_ed25519");
  await sshKeygen(key);
  await writeFile(join(dir, "authorized_keys"), await readFile(`${key}.pub`, "utf8"));
  listener = createLentoListener({
    hostKeyFile: join(dir, "host_key"),
    authorizedKeysFile: join(dir, "authorized_keys"),
    handler: (_fileset, _user, stream) => void stream.on("error", () => undefined).resume(),
  });
  port = (await listener.start()).port;
});
after(async () => {
  await listener.close();
  await rm(dir, { recursive: true, force: true });
});

describe("keepalives", () => {
  it("detect a peer that stops answering and report CONNECTION_LOST", async () => {
    // A TCP relay between client and listener that can go silent, like a dead network path.
    const sockets: Socket[] = [];
    const relay = createServer((inbound) => {
      const outbound = connect(port, "127.0.0.1");
      inbound.pipe(outbound).pipe(inbound);
      sockets.push(inbound, outbound);
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
    const relayPort = (relay.address() as { port: number }).port;
    try {
      await writeFile(join(dir, "kh"), `[127.0.0.1]:${relayPort} ${hostPub}\n`);
      const ch = await sshExec({
        host: "127.0.0.1",
        port: relayPort,
        user: "u",
        identityFiles: [key],
        agent: null,
        knownHostsFiles: [join(dir, "kh")],
        args: ["docs"],
        keepaliveIntervalMs: 100,
      });
      try {
        const failed = new Promise<unknown>((r) => ch.stream.once("error", r));
        for (const s of sockets) {
          s.unpipe();
          s.pause();
        }
        const started = Date.now();
        assert.ok(isImzError(await failed, "CONNECTION_LOST"));
        assert.ok(Date.now() - started < 5000);
        assert.ok(isImzError((await ch.exit).lost, "CONNECTION_LOST"));
      } finally {
        await ch.close();
      }
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => relay.close(r));
    }
  });
});
