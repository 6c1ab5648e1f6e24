/**
 * `intermezzo mount` in the background (its default): the daemon's messages go to the file set's
 * `.intermezzo/mount.log`, and a failed upcall (the holder of a lazy replica unreachable) is EIO for
 * that one open while the mount stays up.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import { isMounted } from "../../src/filter/mount.js";
import { IMZ_BIN, runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";
import { sh } from "./fuse-helpers.js";

describe("a background mount", () => {
  it("logs to .intermezzo/mount.log and survives a failed fetch", async () => {
    const holder = tempDir("imz-bg-holder-");
    const dir = path.join(tempDir("imz-bg-parent-"), "replica");
    const mnt = tempDir("imz-bg-mnt-");
    let pid: number | undefined;
    try {
      fs.writeFileSync(path.join(holder, "a.txt"), "first\n");
      fs.writeFileSync(path.join(holder, "b.txt"), "second\n");
      assert.equal((await runCli(IMZ_BIN, ["replicate", holder, dir, "--lazy"])).code, 0);
      fs.renameSync(holder, `${holder}.away`); // the holder is gone: every fetch fails
      const r = await runCli(IMZ_BIN, ["mount", dir, mnt]);
      assert.equal(r.code, 0, r.stderr);
      pid = Number(/pid (\d+)/.exec(r.stdout)?.[1]);
      await assert.rejects(sh("cat a.txt", mnt), /Input\/output error/);
      await assert.rejects(sh("cat b.txt", mnt), /Input\/output error/, "the second failed fetch is EIO too, not a dead mount");
      assert.match(await sh("ls", mnt), /a\.txt\nb\.txt/);
      assert.ok(isMounted(mnt));
      const log = fs.readFileSync(path.join(dir, ".intermezzo", "mount.log"), "utf8");
      assert.match(log, /a\.txt/, "the failed fetch is in the mount's log");
      assert.match(log, /b\.txt/);
    } finally {
      if (isMounted(mnt)) await promisify(execFile)("fusermount", ["-u", mnt]).catch(() => undefined);
      if (pid) await waitGone(pid);
      for (const d of [`${holder}.away`, holder, path.dirname(dir), mnt]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});

/** Waits for the mount's process (started by this test) to exit after its unmount; kills it after 10 s. */
async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  process.kill(pid, "SIGKILL");
}
