/**
 * Special files replicate like the rest (rsync -a includes -D): FIFOs, sockets and, as root,
 * device nodes found by the scanner travel as `mknod` records over the stdio transport's wire and
 * through a real OpenSSH server, and are made on the other side, both ways; `--no-specials` skips
 * them as per-path problems (exit 4).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { syncJson } from "../helpers/cli.js";
import { clientHome, REMOTE_SERVE } from "../helpers/remote.js";
import { startSshd } from "../helpers/sshd.js";
import { manifest, tempDir } from "../helpers/tree.js";

const ROOT = process.getuid?.() === 0;

function specials(dir: string): void {
  fs.writeFileSync(path.join(dir, "plain.txt"), "plain\n");
  execFileSync("mkfifo", ["-m", "0600", path.join(dir, "fifo")]);
  execFileSync("python3", ["-c", `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path.join(dir, "sock"))})`]);
  if (ROOT) execFileSync("mknod", ["-m", "0660", path.join(dir, "tty0"), "c", "4", "0"]);
}

describe("special files", () => {
  it("replicate both ways over the stdio transport", async () => {
    const src = tempDir("imz-spec-src-");
    const dest = tempDir("imz-spec-dest-");
    try {
      specials(src);
      const first = await syncJson(["--transport", "stdio", src, dest]);
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(manifest(dest), manifest(src));
      assert.ok(fs.lstatSync(path.join(dest, "fifo")).isFIFO());
      if (ROOT) assert.ok(fs.lstatSync(path.join(dest, "tty0")).isCharacterDevice());
      // and back: made on the holder's side, then synced to the replica
      execFileSync("mkfifo", [path.join(dest, "back")]);
      fs.rmSync(path.join(dest, "sock"));
      const second = await syncJson(["--transport", "stdio", src, dest]);
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(manifest(src), manifest(dest));
      assert.ok(fs.lstatSync(path.join(src, "back")).isFIFO());
    } finally {
      for (const d of [src, dest]) fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it("replicate to a holder over SSH", async () => {
    const src = tempDir("imz-spec-src-");
    const dest = tempDir("imz-spec-dest-");
    const sshd = await startSshd();
    const home = clientHome(tempDir("imz-spec-home-"), sshd);
    try {
      specials(src);
      const r = await syncJson(["-i", home.key, "--remote-command", REMOTE_SERVE, src, `ssh://root@127.0.0.1:${sshd.port}${dest}`], { env: home.env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(manifest(dest), manifest(src));
      assert.ok(fs.lstatSync(path.join(dest, "sock")).isSocket());
    } finally {
      await sshd.stop();
      for (const d of [src, dest, home.dir]) fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it("--no-specials skips them, each a per-path problem (exit 4)", async () => {
    const src = tempDir("imz-spec-src-");
    const dest = tempDir("imz-spec-dest-");
    try {
      specials(src);
      const r = await syncJson(["--no-specials", src, dest]);
      assert.equal(r.code, 4, r.stderr);
      assert.deepEqual(fs.readdirSync(dest).filter((n) => n !== ".intermezzo"), ["plain.txt"]);
      assert.deepEqual(r.json!.problems.map((p) => p.code).sort(), Array(ROOT ? 3 : 2).fill("UNSUPPORTED"));
    } finally {
      for (const d of [src, dest]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
