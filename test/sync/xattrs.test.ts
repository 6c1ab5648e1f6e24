/**
 * Extended attributes and POSIX ACLs replicate (rsync -X -A): `setfattr`/`setfacl` on one side are
 * found by the scanner, carried in the records' attributes over every transport (in-process, the
 * stdio wire, a real OpenSSH server) and applied on the other side, both ways; a removal replicates;
 * a content change keeps them; `--no-xattrs` leaves them out; a receiving filesystem that keeps
 * none (ramfs) is a per-path warning (exit 4), and the sender keeps its own; large sets cross the
 * wire in pages; conflicts and mirrors treat them as attributes. Compared with the attr and acl
 * packages' `getfattr -d -m-` and `getfacl`.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { syncJson } from "../helpers/cli.js";
import { clientHome, REMOTE_SERVE } from "../helpers/remote.js";
import { startSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tree.js";
import { xattrDump } from "../helpers/xattrs.js";

const ROOT = process.getuid?.() === 0;

/** A tree with user attributes (text and binary), access and default ACLs, a symlink and plain files. */
function decorate(dir: string): void {
  fs.mkdirSync(path.join(dir, "d"));
  fs.writeFileSync(path.join(dir, "d", "f.txt"), "one\n");
  fs.writeFileSync(path.join(dir, "plain.txt"), "plain\n");
  fs.symlinkSync("plain.txt", path.join(dir, "ln"));
  execFileSync("setfattr", ["-n", "user.mime_type", "-v", "text/plain", path.join(dir, "d", "f.txt")]);
  execFileSync("setfattr", ["-n", "user.bin", "-v", "0sAAEC/w==", path.join(dir, "d", "f.txt")]);
  execFileSync("setfattr", ["-n", "user.dir", "-v", "yes", path.join(dir, "d")]);
  execFileSync("setfacl", ["-m", "u:nobody:rw,g:nogroup:r", path.join(dir, "d", "f.txt")]);
  execFileSync("setfacl", ["-d", "-m", "u:nobody:rx", path.join(dir, "d")]);
}

const cleanup = (...dirs: string[]): void => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
};

describe("extended attributes and ACLs", () => {
  for (const transport of ["in-process", "stdio"]) {
    it(`replicate both ways, removal and content changes included (${transport})`, async () => {
      const src = tempDir("imz-xa-src-");
      const dest = tempDir("imz-xa-dest-");
      const sync = (): ReturnType<typeof syncJson> => syncJson(["--transport", transport, src, dest]);
      try {
        decorate(src);
        const first = await sync();
        assert.equal(first.code, 0, first.stderr);
        assert.match(xattrDump(dest), /user\.mime_type="text\/plain"/);
        assert.match(xattrDump(dest), /default:user:nobody:r-x/);
        assert.equal(xattrDump(dest), xattrDump(src));
        // changed and removed on the holder's side (DEST), a new one on a new file; back to SRC
        execFileSync("setfattr", ["-x", "user.bin", path.join(dest, "d", "f.txt")]);
        execFileSync("setfattr", ["-n", "user.mime_type", "-v", "text/markdown", path.join(dest, "d", "f.txt")]);
        execFileSync("setfacl", ["-x", "g:nogroup", path.join(dest, "d", "f.txt")]);
        fs.writeFileSync(path.join(dest, "d", "new.txt"), "new\n"); // inherits d's default ACL
        execFileSync("setfattr", ["-n", "user.new", "-v", "1", path.join(dest, "d", "new.txt")]);
        const second = await sync();
        assert.equal(second.code, 0, second.stderr);
        assert.doesNotMatch(xattrDump(src), /user\.bin/);
        assert.match(xattrDump(src), /user\.mime_type="text\/markdown"/);
        assert.equal(xattrDump(src), xattrDump(dest));
        // a content change on SRC (a new inode on DEST) keeps the file's attributes; the ACL goes
        fs.appendFileSync(path.join(src, "d", "f.txt"), "two\n");
        execFileSync("setfacl", ["-b", path.join(src, "d", "f.txt")]);
        const third = await sync();
        assert.equal(third.code, 0, third.stderr);
        assert.equal(fs.readFileSync(path.join(dest, "d", "f.txt"), "utf8"), "one\ntwo\n");
        assert.match(xattrDump(dest), /user\.mime_type="text\/markdown"/);
        assert.doesNotMatch(execFileSync("getfacl", ["-c", path.join(dest, "d", "f.txt")], { encoding: "utf8" }), /nobody/);
        assert.equal(xattrDump(dest), xattrDump(src));
        // a resync finds nothing more to do
        const fourth = await sync();
        assert.equal(fourth.code, 0, fourth.stderr);
        assert.equal(fourth.json!.recordsShipped + fourth.json!.recordsApplied, 0);
      } finally {
        cleanup(src, dest);
      }
    });
  }

  it("replicate both ways with a holder over SSH (a real sshd)", async () => {
    const src = tempDir("imz-xa-src-");
    const dest = tempDir("imz-xa-dest-");
    const sshd = await startSshd();
    const home = clientHome(tempDir("imz-xa-home-"), sshd);
    try {
      decorate(src);
      const args = ["-i", home.key, "--remote-command", REMOTE_SERVE, src, `ssh://root@127.0.0.1:${sshd.port}${dest}`];
      const r = await syncJson(args, { env: home.env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(xattrDump(dest), xattrDump(src));
      execFileSync("setfattr", ["-x", "user.dir", path.join(src, "d")]);
      execFileSync("setfacl", ["-m", "u:nobody:r", path.join(dest, "plain.txt")]); // and one from the holder's side
      const again = await syncJson(args, { env: home.env });
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(xattrDump(dest), /user\.dir/);
      assert.match(execFileSync("getfacl", ["-c", path.join(src, "plain.txt")], { encoding: "utf8" }), /user:nobody:r--/);
      assert.equal(xattrDump(dest), xattrDump(src));
    } finally {
      await sshd.stop();
      cleanup(src, dest, home.dir);
    }
  });

  it("a push mirror over SSH: the remote replica's scan and apply keep them too", async () => {
    const src = tempDir("imz-xa-src-");
    const dest = tempDir("imz-xa-dest-");
    const sshd = await startSshd();
    const home = clientHome(tempDir("imz-xa-home-"), sshd);
    try {
      decorate(src);
      const args = ["--mirror", "-i", home.key, "--remote-command", REMOTE_SERVE, src, `ssh://root@127.0.0.1:${sshd.port}${dest}`];
      const r = await syncJson(args, { env: home.env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(xattrDump(dest), xattrDump(src));
      // DEST's own change, found by the remote replica's scan, is reverted to SRC's
      execFileSync("setfattr", ["-n", "user.mime_type", "-v", "defaced", path.join(dest, "d", "f.txt")]);
      const again = await syncJson(args, { env: home.env });
      assert.equal(again.code, 3, again.stderr);
      assert.equal(xattrDump(dest), xattrDump(src));
    } finally {
      await sshd.stop();
      cleanup(src, dest, home.dir);
    }
  });

  it("--no-xattrs leaves them out, and a later run without it sends them", async () => {
    const src = tempDir("imz-xa-src-");
    const dest = tempDir("imz-xa-dest-");
    try {
      decorate(src);
      const r = await syncJson(["--no-xattrs", src, dest]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fs.readFileSync(path.join(dest, "d", "f.txt"), "utf8"), "one\n");
      assert.equal(xattrDump(dest), "");
      const again = await syncJson(["--no-xattrs", src, dest]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.json!.recordsShipped, 0);
      // a run without it finds them (the rows kept the ctimes that runs without them did not compare)
      const later = await syncJson([src, dest]);
      assert.equal(later.code, 0, later.stderr);
      assert.equal(xattrDump(dest), xattrDump(src));
      assert.match(xattrDump(dest), /user\.mime_type/);
    } finally {
      cleanup(src, dest);
    }
  });

  it("a receiving filesystem without them (ramfs) is a per-path warning, and the sender keeps its own", { skip: !ROOT && "needs root to mount ramfs" }, async () => {
    const src = tempDir("imz-xa-src-");
    const dest = tempDir("imz-xa-ramfs-");
    execFileSync("mount", ["-t", "ramfs", "ramfs", dest]);
    try {
      decorate(src);
      const before = xattrDump(src);
      const r = await syncJson([src, dest]);
      assert.equal(r.code, 4, r.stderr);
      assert.equal(fs.readFileSync(path.join(dest, "d", "f.txt"), "utf8"), "one\n");
      const paths = r.json!.problems.map((p) => `${p.code} ${p.path}`).sort();
      assert.deepEqual(paths, ["UNSUPPORTED d", "UNSUPPORTED d/f.txt"]);
      // nothing comes back to remove them on SRC, now or on a later run
      const again = await syncJson([src, dest]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(xattrDump(src), before);
      // a later change on SRC warns again, still nothing lost
      execFileSync("setfattr", ["-n", "user.later", "-v", "1", path.join(src, "plain.txt")]);
      const third = await syncJson([src, dest]);
      assert.equal(third.code, 4, third.stderr);
      assert.match(xattrDump(src), /user\.later/);
    } finally {
      execFileSync("umount", [dest]);
      cleanup(src, dest);
    }
  });

  it("the same when the replica's filesystem refuses the holder's (update notification)", { skip: !ROOT && "needs root to mount ramfs" }, async () => {
    const src = tempDir("imz-xa-src-");
    const dest = tempDir("imz-xa-ramfs-");
    execFileSync("mount", ["-t", "ramfs", "ramfs", dest]);
    try {
      decorate(src);
      const before = xattrDump(src);
      const r = await syncJson(["--holder", "src", src, dest]); // SRC holds: DEST, the replica, applies its log
      assert.equal(r.code, 4, r.stderr);
      assert.deepEqual(r.json!.problems.map((p) => `${p.code} ${p.path}`).sort(), ["UNSUPPORTED d", "UNSUPPORTED d/f.txt"]);
      assert.equal(fs.readFileSync(path.join(dest, "d", "f.txt"), "utf8"), "one\n");
      const again = await syncJson([src, dest]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.json!.recordsShipped, 0, "the replica's scan sends no removal back");
      assert.equal(xattrDump(src), before);
    } finally {
      execFileSync("umount", [dest]);
      cleanup(src, dest);
    }
  });

  it("large sets cross the wire in pages under the frame limit; a set over 64 KiB is a per-path problem, its file still synced", { skip: !ROOT && "needs root to mount tmpfs" }, async () => {
    // tmpfs keeps values of up to 64 KiB (ext4 keeps one block's worth per file)
    const src = tempDir("imz-xa-tmpfs-src-");
    const dest = tempDir("imz-xa-tmpfs-dest-");
    for (const d of [src, dest]) execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", d]);
    try {
      // 100 files of 50 KB of attributes: about 6.7 MB of records, more than one 4 MiB frame header
      for (let i = 0; i < 100; i++) {
        const f = path.join(src, `f${String(i).padStart(3, "0")}`);
        fs.writeFileSync(f, `${i}\n`);
        execFileSync("setfattr", ["-n", "user.big", "-v", `0s${Buffer.alloc(50_000, i).toString("base64")}`, f]);
      }
      const huge = path.join(src, "huge");
      fs.writeFileSync(huge, "huge\n");
      for (const n of ["a", "b"]) execFileSync("setfattr", ["-n", `user.${n}`, "-v", `0s${Buffer.alloc(40_000, 1).toString("base64")}`, huge]);
      const r = await syncJson(["--transport", "stdio", src, dest]);
      assert.equal(r.code, 4, r.stderr);
      assert.deepEqual(r.json!.problems.map((p) => [p.code, p.path]), [["UNSUPPORTED", "huge"]]);
      assert.match(r.json!.problems[0]!.message, /exceed 65536/);
      assert.equal(fs.readFileSync(path.join(dest, "huge"), "utf8"), "huge\n");
      assert.equal(xattrDump(dest), xattrDump(src).replace(/# file: huge\n(?:user\.[ab]=.*\n)+\n/, ""));
      // and back: the holder's log in pages of updates
      for (let i = 0; i < 100; i++) {
        execFileSync("setfattr", ["-n", "user.big", "-v", `0s${Buffer.alloc(50_000, 255 - i).toString("base64")}`, path.join(dest, `f${String(i).padStart(3, "0")}`)]);
      }
      const back = await syncJson(["--transport", "stdio", src, dest]);
      assert.equal(back.code, 0, back.stderr);
      assert.equal(back.json!.recordsApplied, 100);
      assert.equal(xattrDump(dest), xattrDump(src).replace(/# file: huge\n(?:user\.[ab]=.*\n)+\n/, ""));
    } finally {
      for (const d of [src, dest]) execFileSync("umount", [d]);
      cleanup(src, dest);
    }
  });

  it("follow the conflict rules of attributes: a different change on both sides is attr/update, the same one none", async () => {
    const src = tempDir("imz-xa-src-");
    const dest = tempDir("imz-xa-dest-");
    try {
      fs.writeFileSync(path.join(src, "f"), "f\n");
      assert.equal((await syncJson([src, dest])).code, 0);
      execFileSync("setfattr", ["-n", "user.x", "-v", "replica", path.join(src, "f")]);
      execFileSync("setfattr", ["-n", "user.x", "-v", "holder", path.join(dest, "f")]);
      const both = await syncJson([src, dest]);
      assert.equal(both.code, 3, both.stderr);
      assert.deepEqual(both.json!.conflicts.map((c) => [c.path, c.kind]), [["f", "attr/update"]]);
      assert.equal(xattrDump(src), xattrDump(dest), "settled by the policy: both sides agree");
      execFileSync("setfattr", ["-n", "user.x", "-v", "same", path.join(src, "f")]);
      execFileSync("setfattr", ["-n", "user.x", "-v", "same", path.join(dest, "f")]);
      const same = await syncJson([src, dest]);
      assert.equal(same.code, 0, same.stderr);
      assert.deepEqual(same.json!.conflicts, []);
    } finally {
      cleanup(src, dest);
    }
  });

  it("a mirror reverts a change of them on DEST", async () => {
    const src = tempDir("imz-xa-src-");
    const dest = tempDir("imz-xa-dest-");
    try {
      decorate(src);
      const first = await syncJson(["--mirror", src, dest]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(xattrDump(dest), xattrDump(src));
      execFileSync("setfattr", ["-n", "user.mime_type", "-v", "defaced", path.join(dest, "d", "f.txt")]);
      execFileSync("setfattr", ["-n", "user.extra", "-v", "1", path.join(dest, "plain.txt")]);
      const second = await syncJson(["--mirror", src, dest]);
      assert.equal(second.code, 3, second.stderr); // DEST's changes reverted, each reported
      assert.equal(xattrDump(dest), xattrDump(src));
    } finally {
      cleanup(src, dest);
    }
  });
});
