/**
 * The native directory walk (`src/filter/walk.ts`, `native/walk.cc`): a fast-check property that it
 * reports what `fs.readdir` + `lstat` report (names, order, and every stat field the scanner uses)
 * for random trees with odd names, and, given the digest it finds, only the directory's own entry
 * and its subdirectories (a name that is not UTF-8 as a raw name, src/journal/names.ts);
 * that after a scan every unchanged entry's print equals its Fsdb row's, and an
 * unchanged directory's whole text its rows' (the scanner's fast paths); and that each field the scanner compares, changed, still reaches the scanner.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { scan } from "../../src/filter/scanner.js";
import { fileStat, walkDir, walkedRead, type WalkEntry } from "../../src/filter/walk.js";
import { hashFile } from "../../src/journal/content-hash.js";
import { FileSet, META_DIR } from "../../src/journal/fileset.js";
import { fsPath, nameOf } from "../../src/journal/names.js";
import { utimensatSync } from "../../src/sync/delta/native.js";
import { makeVariedTree, tempDir } from "../helpers/tree.js";

/** What `lstat` says of a path, in the terms the native walk uses. */
interface Seen {
  name: string;
  kind: string;
  print: string;
  extra: string;
}

function kindOf(st: fs.BigIntStats): string {
  return st.isFile() ? "f" : st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : "?";
}

/** The print and extra of `native/walk.cc`, computed from Node's BigInt lstat. */
function seen(name: string, st: fs.BigIntStats): Seen {
  const kind = kindOf(st);
  const size = kind === "f" ? st.size : 0n;
  const born = st.birthtimeNs > st.ctimeNs ? "!" : "";
  return {
    name,
    kind,
    print: `${born}${kind}:${st.dev}:${st.ino}:${st.ctimeNs}:${size}:${st.mtimeNs}:${st.mode & 0o7777n}:${st.uid}:${st.gid}`,
    extra: `${st.nlink}:${st.birthtimeNs}`,
  };
}

/**
 * The reference: `fs.readdir` (as bytes: a name that is not UTF-8 is carried as a raw name,
 * src/journal/names.ts) then `lstat` of each name, skipping those that fail with ENOENT.
 */
function reference(dir: string): { self: Seen; entries: Seen[] } {
  const entries: Seen[] = [];
  for (const bytes of fs.readdirSync(dir, { encoding: "buffer" })) {
    try {
      entries.push(seen(nameOf(bytes), fs.lstatSync(Buffer.concat([Buffer.from(`${dir}/`), bytes]), { bigint: true })));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return { self: seen("", fs.lstatSync(dir, { bigint: true })), entries };
}

const plain = (e: WalkEntry): Seen => ({ name: e.name, kind: e.kind, print: e.print, extra: e.extra });

/** Every directory under `root`, the root included (found through Buffer names, so odd names too). */
function directories(root: Buffer): Buffer[] {
  const out = [root];
  for (const name of fs.readdirSync(root, { encoding: "buffer" })) {
    const p = Buffer.concat([root, Buffer.from("/"), name]);
    if (fs.lstatSync(p).isDirectory()) out.push(...directories(p));
  }
  return out;
}

// Names: odd but valid UTF-8 (spaces, newlines, dashes, combining marks, astral characters), or raw
// bytes that are mostly not UTF-8 (carried as raw names). U+FFFD itself is left out of the odd text.
const oddText = fc
  .string({ unit: fc.constantFrom("a", "Z", " ", "\n", "\t", "-", ".", "é", "e\u0301", "日", "😀", "\u{10FFFF}", "\\", "*", "'"), minLength: 1, maxLength: 12 })
  .filter((s) => s !== "." && s !== "..");
const rawBytes = fc
  .uint8Array({ minLength: 1, maxLength: 12 })
  .map((a) => Buffer.from(a.map((b) => (b === 0 || b === 0x2f ? 0xff : b))))
  .filter((b) => b.toString("latin1") !== "." && b.toString("latin1") !== "..");
const nameArb = fc.oneof(oddText.map((s) => Buffer.from(s)), rawBytes);

type Node = { kind: "file"; size: number; mode: number } | { kind: "dir"; mode: number } | { kind: "symlink"; target: Buffer } | { kind: "hardlink" } | { kind: "fifo" };
const nodeArb: fc.Arbitrary<Node> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("file" as const), size: fc.nat(5000), mode: fc.constantFrom(0o644, 0o600, 0o755, 0o4755, 0o1777) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("dir" as const), mode: fc.constantFrom(0o755, 0o700, 0o2775) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("symlink" as const), target: nameArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: "hardlink" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "fifo" as const }) },
);
const treeArb = fc.array(
  fc.record({ where: fc.nat(), name: nameArb, node: nodeArb, mtimeNs: fc.bigInt({ min: -(10n ** 18n), max: 4n * 10n ** 18n }) }),
  { maxLength: 25 },
);

/** One generated entry: where it goes (an index into the directories made so far), its name, what it is. */
interface Spec {
  where: number;
  name: Buffer;
  node: Node;
  mtimeNs: bigint;
}

/** The path as a string, when it is valid UTF-8 (what string-path APIs and argv can carry). */
function asString(p: Buffer): string | undefined {
  const s = p.toString();
  return Buffer.from(s).equals(p) ? s : undefined;
}

/** Builds the generated tree under `root` (entries whose name is taken are skipped). */
function build(root: string, spec: Spec[]): void {
  const dirs: Buffer[] = [Buffer.from(root)];
  const files: Buffer[] = [];
  for (const { where, name, node, mtimeNs } of spec) {
    const p = Buffer.concat([dirs[where % dirs.length]!, Buffer.from("/"), name]);
    if (fs.existsSync(p) || isLink(p)) continue;
    switch (node.kind) {
      case "file":
        fs.writeFileSync(p, Buffer.alloc(node.size, 7));
        fs.chmodSync(p, node.mode);
        files.push(p);
        break;
      case "dir":
        fs.mkdirSync(p);
        fs.chmodSync(p, node.mode);
        dirs.push(p);
        break;
      case "symlink":
        fs.symlinkSync(node.target, p);
        break;
      case "hardlink":
        if (files.length === 0) continue;
        fs.linkSync(files[where % files.length]!, p);
        break;
      case "fifo":
        if (asString(p) === undefined) continue; // argv carries UTF-8 only
        execFileSync("mkfifo", [asString(p)!]);
        break;
    }
    const s = asString(p);
    if (s !== undefined) utimensatSync(s, mtimeNs, mtimeNs, true);
  }
}

function isLink(p: Buffer): boolean {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** `fileStat` of a walked entry: for a regular file, every field the scanner uses as `lstat` has it (and it is a file); undefined otherwise. */
function assertFileStat(e: WalkEntry, abs: string | Buffer): void {
  const got = fileStat(e);
  if (e.kind !== "f") return assert.equal(got, undefined);
  const st = fs.lstatSync(abs, { bigint: true });
  const fields = (x: typeof got): unknown[] =>
    x === undefined ? [] : [x.dev, x.ino, x.mode, x.nlink, x.uid, x.gid, x.rdev, x.size, x.mtimeNs, x.ctimeNs, x.birthtimeNs, x.isFile(), x.isDirectory(), x.isSymbolicLink()];
  assert.deepEqual(fields(got), fields(st));
}

describe("native directory walk", () => {
  it("reports what fs.readdir + lstat report, for random trees with odd names (property)", async () => {
    await fc.assert(
      fc.asyncProperty(treeArb, async (spec) => {
        const root = tempDir("imz-walk-");
        try {
          build(root, spec);
          for (const dirBuf of directories(Buffer.from(root))) {
            const dir = asString(dirBuf);
            if (dir === undefined) continue; // not reachable through a string path at all
            const got = await walkDir(dir);
            const want = reference(dir);
            assert.deepEqual(plain(got.self), want.self);
            assert.deepEqual(got.entries().map(plain), want.entries);
            assert.equal(got.count(), want.entries.length);
            assert.deepEqual(got.directories().map(plain), want.entries.filter((e) => e.kind === "d"));
            const plainOnly = want.entries.every((e) => (e.kind === "f" || e.kind === "d") && !e.print.startsWith("!") && !e.name.startsWith("\0"));
            assert.equal(got.whole, plainOnly ? want.entries.map((e) => `${e.name}/${e.print}`).join("/") : null);
            for (const e of got.entries()) assertFileStat(e, fsPath(dir, e.name));
            // given the digest it finds, the walk sends only the directory's own entry and its subdirectories
            if (got.wholeDigest !== null) {
              const omitted = await walkDir(dir, undefined, undefined, got.wholeDigest);
              assert.equal(omitted.omitted, true);
              assert.deepEqual(omitted.wholeDigest, got.wholeDigest);
              assert.deepEqual(plain(omitted.self), want.self);
              assert.equal(omitted.count(), want.entries.length);
              assert.deepEqual(omitted.directories().map(plain), want.entries.filter((e) => e.kind === "d"));
              assert.equal(omitted.whole, null);
              assert.throws(() => omitted.entries());
            }
            // given another digest (or none to compare), everything, as without
            const other = await walkDir(dir, undefined, undefined, Buffer.alloc(32, 0xa5));
            assert.equal(other.omitted, false);
            assert.deepEqual(other.entries().map(plain), want.entries);
            assert.equal(other.whole, got.whole);
            assert.deepEqual(other.wholeDigest, got.wholeDigest);
          }
        } finally {
          fs.rmSync(root, { recursive: true, force: true });
        }
      }),
      { numRuns: 40 },
    );
  });

  it("keeps a name that is not UTF-8, as a raw name (names are bytes: src/journal/names.ts)", async () => {
    const root = tempDir("imz-walk-");
    try {
      const bad = Buffer.from([...Buffer.from("bad-"), 0xff, 0xfe]);
      fs.writeFileSync(Buffer.concat([Buffer.from(`${root}/`), bad]), "x");
      fs.writeFileSync(path.join(root, "good"), "x");
      const got = await walkDir(root);
      assert.deepEqual(got.entries().map((e) => e.name), [nameOf(bad), "good"]);
      assert.deepEqual(reference(root).entries.map((e) => e.name), [nameOf(bad), "good"]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("with hashBelow, reads each smaller regular file and gives its content hash and whether it lists extended attributes; the rest as without", async () => {
    const root = tempDir("imz-walk-");
    try {
      fs.writeFileSync(path.join(root, "empty"), "");
      fs.writeFileSync(path.join(root, "small"), "some bytes");
      fs.writeFileSync(path.join(root, "tagged"), "tagged bytes");
      execFileSync("setfattr", ["-n", "user.t", "-v", "1", path.join(root, "tagged")]);
      fs.writeFileSync(path.join(root, "large"), Buffer.alloc(5000, 7));
      fs.writeFileSync(path.join(root, "unreadable"), "secret");
      fs.chmodSync(path.join(root, "unreadable"), 0);
      fs.mkdirSync(path.join(root, "dir"));
      fs.symlinkSync("small", path.join(root, "link"));
      const plain = await walkDir(root);
      const hashed = await walkDir(root, undefined, 4096);
      assert.deepEqual(
        hashed.entries().map((e) => [e.name, e.print]),
        plain.entries().map((e) => [e.name, e.print]),
      );
      const reads = Object.fromEntries(hashed.entries().map((e) => [e.name, walkedRead(e)]));
      for (const name of ["empty", "small"]) assert.deepEqual(reads[name], { hash: await hashFile(path.join(root, name)), noXattrs: true }, name);
      assert.deepEqual(reads.tagged, { hash: await hashFile(path.join(root, "tagged")), noXattrs: false });
      // too large, not a file, or not readable (unless the tests run as root): not read
      for (const name of ["large", "dir", "link"]) assert.equal(reads[name], undefined, name);
      if (process.getuid?.() !== 0) assert.equal(reads.unreadable, undefined);
      for (const e of plain.entries()) assert.equal(walkedRead(e), undefined);
      // the extra still starts with what the walk without hashBelow gives (nlink:birthtimeNs)
      for (const [a, b] of plain.entries().map((e, i) => [e, hashed.entries()[i]!] as const)) assert.ok(b.extra.startsWith(a.extra), a.name);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("rejects an unreadable or missing directory with Node's error (code, syscall, message)", async () => {
    const missing = path.join(tempDir("imz-walk-"), "gone");
    const err = (await walkDir(missing).then(
      () => assert.fail("resolved"),
      (e: unknown) => e,
    )) as NodeJS.ErrnoException;
    const node = (() => {
      try {
        fs.readdirSync(missing);
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
    })()!;
    assert.equal(err.code, "ENOENT");
    assert.equal(err.syscall, "scandir");
    assert.equal(err.message, node.message);
  });

  it("after a scan, every file and directory's print equals its Fsdb row's (the scanner's fast path)", async () => {
    const root = tempDir("imz-walk-");
    try {
      makeVariedTree(root);
      const set = FileSet.init(root, { role: "replica" });
      try {
        await scan(set);
        let compared = 0;
        const check = async (fid: string, rel: string): Promise<void> => {
          const listing = await walkDir(path.join(root, rel));
          const rows = new Map(set.fsdb.childPrints(fid).map((r) => [r[0], r]));
          for (const e of listing.entries()) {
            const row = rows.get(e.name);
            if (row === undefined) continue; // .intermezzo
            if (e.kind === "f" || e.kind === "d") {
              assert.equal(row[3], e.print, `${rel}/${e.name}`);
              compared++;
            }
            if (e.kind === "d") await check(row[1], rel === "" ? e.name : `${rel}/${e.name}`);
          }
        };
        await check("root", "");
        assert.ok(compared >= 15, `compared ${compared}`);
        const plainDir = await walkDir(path.join(root, "a/b/c"));
        assert.notEqual(plainDir.whole, null);
        const c = set.fsdb.childFid(set.fsdb.childFid(set.fsdb.childFid("root", "a")!, "b")!, "c")!;
        assert.equal(set.fsdb.childrenWhole(c), plainDir.whole, "an unchanged directory is one comparison");
        // the root with its .intermezzo left out, as the scanner walks it
        const withMeta = await walkDir(root);
        const rootListing = await walkDir(root, META_DIR);
        assert.deepEqual(
          rootListing.entries().map((e) => e.name),
          withMeta.entries().map((e) => e.name).filter((n) => n !== META_DIR),
        );
        assert.equal(rootListing.count(), withMeta.count() - 1);
        assert.deepEqual(rootListing.directories().map((e) => e.name), withMeta.directories().map((e) => e.name).filter((n) => n !== META_DIR));
        assert.notEqual(rootListing.whole, null);
        assert.equal(set.fsdb.childrenWhole("root"), rootListing.whole, "the root without .intermezzo is its rows");
      } finally {
        set.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("with .intermezzoignore patterns, a known directory that became ignored is not entered (no whole-directory shortcut)", async () => {
    const root = tempDir("imz-walk-");
    try {
      fs.mkdirSync(path.join(root, "sub/build"), { recursive: true });
      fs.writeFileSync(path.join(root, "sub/build/a"), "one");
      const set = FileSet.init(root, { role: "replica" });
      try {
        await scan(set);
        const before = set.cml.count();
        fs.writeFileSync(path.join(root, ".intermezzoignore"), "build/\n");
        fs.writeFileSync(path.join(root, "sub/build/a"), "changed, and ignored now");
        const report = await scan(set);
        const ops = set.cml.all().slice(before).map((r) => ("name" in r ? `${r.op} ${r.name}` : `${r.op} ${r.fid}`));
        assert.deepEqual(ops, ["create .intermezzoignore", "setattr root"], "the root's mtime moved; nothing under build/");
        assert.equal(report.examined, 2, ".intermezzoignore and sub");
      } finally {
        set.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("a row without a local inode still counts in its directory's whole text: its file, gone, is an unlink", async () => {
    const root = tempDir("imz-walk-");
    try {
      fs.mkdirSync(path.join(root, "d"));
      for (const n of ["a", "b"]) fs.writeFileSync(path.join(root, "d", n), n);
      const set = FileSet.init(root, { role: "replica" });
      try {
        await scan(set);
        const d = set.fsdb.childFid("root", "d")!;
        set.db.prepare(`UPDATE objects SET ino = NULL WHERE parent = ? AND name = 'b'`).run(d);
        const mtime = fs.lstatSync(path.join(root, "d"), { bigint: true }).mtimeNs;
        fs.rmSync(path.join(root, "d/b"));
        utimensatSync(path.join(root, "d"), mtime, mtime, true); // d's own print unchanged
        const before = set.cml.count();
        await scan(set);
        assert.deepEqual(set.cml.all().slice(before).map((r) => ("name" in r ? `${r.op} ${r.name}` : r.op)), ["unlink b"]);
      } finally {
        set.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  const cases: Array<{ name: string; change: (f: string) => void; expect: string[] }> = [
    { name: "owner", change: (f) => fs.chownSync(f, 65534, 65534), expect: ["setattr gid,uid"] },
    { name: "mode", change: (f) => fs.chmodSync(f, 0o640), expect: ["setattr mode"] },
    { name: "mtime", change: (f) => utimensatSync(f, 1n, 123_456_789n, true), expect: ["setattr mtimeNs"] },
    { name: "content, same size and mtime restored", change: (f) => (fs.writeFileSync(f, "other"), utimensatSync(f, 1n, 5n, true)), expect: [] },
    { name: "size", change: (f) => (fs.appendFileSync(f, "!"), utimensatSync(f, 1n, 5n, true)), expect: ["close"] },
    { name: "ctime only (chmod to the same mode)", change: (f) => fs.chmodSync(f, 0o644), expect: [] },
  ];
  for (const c of cases) {
    it(`a changed ${c.name} still reaches the scanner`, { skip: process.getuid?.() !== 0 && c.name === "owner" && "needs root (chown)" }, async () => {
      const root = tempDir("imz-walk-");
      try {
        const f = path.join(root, "f");
        fs.writeFileSync(f, "hello");
        fs.chmodSync(f, 0o644);
        utimensatSync(f, 1n, 5n, true);
        const set = FileSet.init(root, { role: "replica" });
        try {
          await scan(set);
          const before = set.cml.count();
          c.change(f);
          await scan(set);
          const got = set.cml.all().slice(before).map((r) => (r.op === "setattr" ? `setattr ${Object.keys(r.attrs).sort().join(",")}` : r.op));
          assert.deepEqual(got, c.expect);
          const st = fs.lstatSync(f, { bigint: true });
          const row = set.fsdb.childPrints("root").find((r) => r[0] === "f")!;
          assert.equal(row[3], seen("f", st).print, "the Fsdb row describes the file as it is now");
        } finally {
          set.close();
        }
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
