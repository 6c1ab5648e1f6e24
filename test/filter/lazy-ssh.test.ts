/**
 * A lazy replica of a holder on another host, over OpenSSH: `intermezzo replicate --lazy` through a
 * real sshd records the endpoint, identity file and remote command, and the mount's upcalls reuse
 * them (with the user's known_hosts) to fetch a file's data on first read.
 *
 * As in `lazy.test.ts`, the mount runs in this process and only child processes touch it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { mountFileSet, type MountedFileSet } from "../../src/filter/mount.js";
import { upcallsFor, type LentoUpcall } from "../../src/sync/upcall.js";
import { IMZ_BIN, runCli } from "../helpers/cli.js";
import { clientHome, REMOTE_SERVE, type ClientHome } from "../helpers/remote.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { makeVariedTree, tempDir } from "../helpers/tree.js";
import { sh } from "./fuse-helpers.js";

describe("a lazy replica of a holder reached over SSH", () => {
  const holder = tempDir("imz-lssh-holder-");
  const dir = path.join(tempDir("imz-lssh-parent-"), "replica");
  const mnt = tempDir("imz-lssh-mnt-");
  const saved = { home: process.env["HOME"], agent: process.env["SSH_AUTH_SOCK"] };
  let sshd: TestSshd | undefined;
  let home: ClientHome;
  let m: MountedFileSet | undefined;
  let lento: LentoUpcall | undefined;

  before(async () => {
    makeVariedTree(holder);
    sshd = await startSshd();
    home = clientHome(tempDir("imz-lssh-home-"), sshd);
  });

  after(async () => {
    await m?.unmount();
    process.env["HOME"] = saved.home;
    if (saved.agent !== undefined) process.env["SSH_AUTH_SOCK"] = saved.agent;
    await sshd?.stop();
    for (const d of [holder, path.dirname(dir), mnt, home?.dir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it("replicates names over SSH, then fetches a file's data on its first read only", async () => {
    const server = `ssh://root@127.0.0.1:${sshd!.port}${holder}`;
    const r = await runCli(IMZ_BIN, ["replicate", "--json", "--lazy", "-i", home.key, "--remote-command", REMOTE_SERVE, server, dir], { env: home.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { sync: { filesReceived: number } }).sync.filesReceived, 0);
    // The mount's upcalls use what replicate recorded, and the user's home (known_hosts): as `intermezzo mount` run by that user.
    process.env["HOME"] = home.dir;
    delete process.env["SSH_AUTH_SOCK"];
    m = await mountFileSet(dir, mnt, {}, (set) => (lento = upcallsFor(set, { owner: true })));
    assert.equal((await sh(`cd '${mnt}' && stat -c %s a/b/c/d/deep`, "/")).trim(), "70000");
    assert.equal(lento!.stats.connections, 0, "listing never reaches the holder");
    const want = createHash("md5").update(fs.readFileSync(path.join(holder, "a/b/c/d/deep"))).digest("hex");
    for (let i = 0; i < 2; i++) assert.equal(await sh(`cd '${mnt}' && md5sum a/b/c/d/deep | cut -d' ' -f1`, "/"), `${want}\n`);
    assert.deepEqual(lento!.stats, { fetches: 1, bytes: 70000, connections: 1 });
  });
});
