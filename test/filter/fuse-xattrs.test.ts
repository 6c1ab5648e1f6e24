/**
 * Extended attributes and POSIX ACLs through the Presto mount (real FUSE): `setfattr`, `setfacl`,
 * a chmod that rewrites an ACL's mask, a default ACL inherited by new files and `cp -a` are passed to
 * the holding location and journaled as they happen, so the mounted replica's journal alone (no
 * scan) gives the holder the same attributes (`getfattr`/`getfacl`), removals included; names the
 * file set does not replicate are refused.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { tempDir } from "../helpers/tree.js";
import { xattrDump } from "../helpers/xattrs.js";
import { scan } from "../../src/filter/scanner.js";
import { FileSet } from "../../src/journal/fileset.js";
import { assertJournalComplete, sh, startMount, stopMount, withFilteredReplica } from "./fuse-helpers.js";

const NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups";

describe("extended attributes through the mount", { skip: process.getuid?.() !== 0 && "needs root (FUSE)" }, () => {
  it("setfattr and setfacl replicate without a scan; removals too", async () => {
    const outside = tempDir("imz-xa-out-");
    try {
      await withFilteredReplica(async (r) => {
        fs.writeFileSync(path.join(outside, "copied"), "copied\n");
        await sh("setfattr -n user.origin -v outside copied && setfacl -m u:nobody:r copied", outside);
        await sh(
          [
            "mkdir d && setfacl -d -m u:nobody:rx d && setfattr -n user.dir -v 1 d",
            "echo one > d/f && setfattr -n user.mime_type -v text/plain d/f && setfattr -n user.bin -v 0sAAEC/w== d/f",
            "setfacl -m u:nobody:rw,g:nogroup:r d/f && chmod 640 d/f",
            "mkdir d/sub",
            `cp -a ${outside}/copied d/copied`,
          ].join(" && "),
          r.mnt,
        );
        const below = xattrDump(r.dir);
        assert.equal(xattrDump(r.mnt), below, "the mount shows the holding location's attributes");
        assert.match(below, /# file: d\/sub\n(?:#.*\n)*user::rwx\n[^#]*default:user:nobody:r-x/, "a new directory inherited the default ACL");
        assert.match(below, /user\.origin="outside"/);
        await assertJournalComplete(r);
        assert.equal(xattrDump(r.holder), below);
        // a buffer too small is ERANGE (34), as the kernel's own filesystems answer
        const small = "import ctypes; l = ctypes.CDLL(None, use_errno=True); b = ctypes.create_string_buffer(2); " +
          "print(l.getxattr(b'd/f', b'user.mime_type', b, 2), ctypes.get_errno(), l.listxattr(b'd/f', b, 2), ctypes.get_errno())";
        assert.equal((await sh(`python3 -c "${small}"`, r.mnt)).trim(), "-1 34 -1 34");

        await sh("setfattr -x user.bin d/f && setfacl -b d/f && setfacl -k d && setfattr -n user.mime_type -v text/x-c d/f", r.mnt);
        await assertJournalComplete(r);
        assert.doesNotMatch(xattrDump(r.holder), /user\.bin/);
        assert.doesNotMatch(execFileSync("getfacl", ["-c", path.join(r.holder, "d", "f")], { encoding: "utf8" }), /nobody/);
        assert.equal(xattrDump(r.holder), xattrDump(r.dir));

        // only user.* and the POSIX ACLs are replicated: others are refused, nothing kept
        await assert.rejects(sh("setfattr -n trusted.x -v 1 d/f", r.mnt), /Operation not supported/);
        await assert.rejects(sh("getfattr -n user.none d/f", r.mnt), /No such attribute/);
        await assertJournalComplete(r);
      });
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it("with --allow-other, another user changes attributes as itself", async () => {
    const dir = tempDir("imz-xa-fsl-");
    const mnt = tempDir("imz-xa-mnt-");
    fs.chmodSync(dir, 0o1777);
    FileSet.init(dir).close();
    const child = await startMount(dir, mnt, "--allow-other");
    try {
      await sh("echo root > root.txt && chmod 644 root.txt", mnt);
      await sh(`${NOBODY} sh -c 'echo mine > mine.txt && setfattr -n user.who -v nobody mine.txt && setfacl -m g:nogroup:rw mine.txt'`, mnt);
      assert.match(xattrDump(dir), /user\.who="nobody"/);
      assert.match(execFileSync("getfacl", ["-c", path.join(dir, "mine.txt")], { encoding: "utf8" }), /group:nogroup:rw-/);
      // not its file: the kernel's rules, as the caller (no write permission; not the owner)
      await assert.rejects(sh(`${NOBODY} setfattr -n user.x -v 1 root.txt`, mnt), /Permission denied/);
      await assert.rejects(sh(`${NOBODY} setfacl -m u:nobody:rw root.txt`, mnt), /Operation not permitted/);
      assert.doesNotMatch(xattrDump(dir), /root\.txt/);
    } finally {
      await stopMount(child, mnt);
      const set = FileSet.open(dir);
      try {
        assert.equal((await scan(set)).records, 0, "the filter journaled every change");
      } finally {
        set.close();
      }
      for (const d of [dir, mnt]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
