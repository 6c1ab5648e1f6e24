/**
 * The addon's extended-attribute calls (`native/xattr.cc`, `src/filter/xattr-io.ts`), checked against
 * the attr and acl packages' own tools: relative to a directory descriptor, never following a
 * symlink at the name, values as bytes, POSIX ACLs as the kernel's xattrs, and a filesystem without
 * xattrs (ramfs) refusing a write with EOPNOTSUPP.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { AT_FDCWD, readXattrs, writeXattrs, xattrNative } from "../../src/filter/xattr-io.js";
import { tempDir } from "../helpers/tree.js";

const openDir = (p: string): number => fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
const getfattr = (p: string): string => execFileSync("getfattr", ["-h", "-d", "-m", "-", "--absolute-names", p], { encoding: "utf8" });

describe("native xattr calls", () => {
  it("lists, gets, sets and removes beneath a directory descriptor, values as bytes", () => {
    const root = tempDir();
    try {
      fs.mkdirSync(path.join(root, "d"));
      fs.writeFileSync(path.join(root, "d", "f"), "x");
      execFileSync("setfattr", ["-n", "user.text", "-v", "hello", path.join(root, "d", "f")]);
      const dir = openDir(path.join(root, "d"));
      try {
        const x = xattrNative();
        assert.deepEqual(x.xattrList(dir, "f").map(([k, v]) => [k, v.toString()]), [["user.text", "hello"]]);
        const bytes = Buffer.from([0, 1, 2, 255, 0]);
        x.xattrSet(dir, "f", "user.bin", bytes, 0);
        assert.deepEqual(x.xattrGet(dir, "f", "user.bin"), bytes);
        assert.match(getfattr(path.join(root, "d", "f")), /user\.bin=0sAAEC\/wA=/);
        x.xattrRemove(dir, "f", "user.text");
        assert.throws(() => x.xattrGet(dir, "f", "user.text"), { code: "ENODATA" });
        assert.throws(() => x.xattrRemove(dir, "f", "user.text"), { code: "ENODATA" });
        // the directory itself, as "."
        x.xattrSet(dir, ".", "user.dir", Buffer.from("1"), 0);
        assert.deepEqual(readXattrs(AT_FDCWD, path.join(root, "d")), { "user.dir": Buffer.from("1").toString("base64") });
        assert.throws(() => x.xattrList(dir, "missing"), { code: "ENOENT" });
      } finally {
        fs.closeSync(dir);
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("never follows a symlink at the name", () => {
    const root = tempDir();
    try {
      fs.writeFileSync(path.join(root, "target"), "x");
      execFileSync("setfattr", ["-n", "user.a", "-v", "1", path.join(root, "target")]);
      fs.symlinkSync("target", path.join(root, "ln"));
      const dir = openDir(root);
      try {
        const x = xattrNative();
        assert.deepEqual(x.xattrList(dir, "ln"), []);
        assert.throws(() => x.xattrGet(dir, "ln", "user.a"), { code: "ENODATA" });
        assert.throws(() => x.xattrSet(dir, "ln", "user.b", Buffer.from("2"), 0), { code: "EPERM" });
        assert.throws(() => x.xattrRemove(dir, "ln", "user.a"), { code: "EPERM" });
        assert.deepEqual(readXattrs(dir, "target"), { "user.a": "MQ==" }, "the target kept its one attribute");
      } finally {
        fs.closeSync(dir);
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("carries user.* and POSIX ACLs only, and writes a whole set (ACLs as getfacl shows them)", () => {
    const root = tempDir();
    try {
      const a = path.join(root, "a");
      const b = path.join(root, "b");
      fs.writeFileSync(a, "x");
      fs.writeFileSync(b, "y");
      fs.mkdirSync(path.join(root, "da"));
      fs.mkdirSync(path.join(root, "db"));
      execFileSync("setfattr", ["-n", "user.keep", "-v", "k", a]);
      execFileSync("setfacl", ["-m", "u:nobody:rw,g:nogroup:r", a]);
      execFileSync("setfacl", ["-d", "-m", "u:nobody:rx", path.join(root, "da")]);
      execFileSync("setfattr", ["-n", "user.gone", "-v", "g", b]);
      const set = readXattrs(AT_FDCWD, a)!;
      assert.deepEqual(Object.keys(set), ["system.posix_acl_access", "user.keep"]);
      writeXattrs(AT_FDCWD, b, set);
      assert.deepEqual(readXattrs(AT_FDCWD, b), set);
      const acl = (p: string): string => execFileSync("getfacl", ["-c", "-p", p], { encoding: "utf8" });
      assert.equal(acl(b), acl(a));
      writeXattrs(AT_FDCWD, path.join(root, "db"), readXattrs(AT_FDCWD, path.join(root, "da"))!);
      assert.equal(acl(path.join(root, "db")), acl(path.join(root, "da")));
      writeXattrs(AT_FDCWD, b, {});
      assert.deepEqual(readXattrs(AT_FDCWD, b), {});
      assert.equal(acl(b).includes("nobody"), false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("on a filesystem without extended attributes (ramfs) lists none and refuses a write with EOPNOTSUPP", { skip: process.getuid?.() !== 0 && "needs root to mount ramfs" }, () => {
    const root = tempDir();
    execFileSync("mount", ["-t", "ramfs", "ramfs", root]);
    try {
      fs.writeFileSync(path.join(root, "f"), "x");
      assert.deepEqual(readXattrs(AT_FDCWD, path.join(root, "f")), {});
      writeXattrs(AT_FDCWD, path.join(root, "f"), {}); // nothing to write: no error
      assert.throws(() => writeXattrs(AT_FDCWD, path.join(root, "f"), { "user.a": "MQ==" }), { code: "EOPNOTSUPP" });
    } finally {
      execFileSync("umount", [root]);
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
