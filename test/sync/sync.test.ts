/**
 * `intermezzo-sync` end to end between two local trees, through the built CLI and the stdio
 * protocol child, checked by manifests (path, type, mode, size, mtime, link target, content hash,
 * hard-link groups).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { syncJson } from "../helpers/cli.js";
import { leftoverTemps, makeVariedTree, manifest, tempDir } from "../helpers/tree.js";

const dirs: string[] = [];
function dir(): string {
  const d = tempDir("imz-sync-");
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function write(root: string, rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}

/** Nine more files, so that a directory deleted on one side is not a mass deletion (`MASS_DELETE`). */
function padTree(root: string): void {
  for (let i = 0; i < 9; i++) write(root, `k${i}`, `${i}`);
}

/** Runs `fn` with `files` immutable (`chattr +i`: not even root may change, rename or remove them). */
async function whileImmutable(files: string[], fn: () => Promise<void>): Promise<void> {
  execFileSync("chattr", ["+i", ...files]);
  try {
    await fn();
  } finally {
    execFileSync("chattr", ["-i", ...files]);
  }
}

describe("intermezzo-sync between two local trees", () => {
  it("copies a varied tree exactly, and a second run transfers nothing and changes nothing", async () => {
    const a = dir();
    const b = dir();
    makeVariedTree(a);
    const first = await syncJson([a, b]);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(manifest(b), manifest(a));
    assert.ok(first.json!.filesSent > 0);

    const before = manifest(b);
    const second = await syncJson([a, b]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.json!.filesSent + second.json!.filesReceived, 0);
    assert.equal(second.json!.bytesSent + second.json!.bytesReceived, 0);
    assert.equal(second.json!.recordsShipped, 0);
    assert.deepEqual(manifest(b), before);
    assert.deepEqual(manifest(a), before);
    assert.deepEqual(leftoverTemps(a).concat(leftoverTemps(b)), []);
  });

  it("syncs two ways: edits, creates, deletes and renames on both sides converge", async () => {
    const a = dir();
    const b = dir();
    makeVariedTree(a, { seed: 3 });
    assert.equal((await syncJson([a, b])).code, 0);
    write(a, "from-a/new.txt", "made on a");
    fs.writeFileSync(path.join(a, "top.txt"), "edited on a");
    fs.renameSync(path.join(a, "with space"), path.join(a, "renamed dir"));
    write(b, "from-b.txt", "made on b");
    fs.rmSync(path.join(b, "a/b/c"), { recursive: true });
    fs.chmodSync(path.join(b, "a/one"), 0o640);
    const r = await syncJson([a, b]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(manifest(a), manifest(b));
    assert.equal(fs.readFileSync(path.join(b, "top.txt"), "utf8"), "edited on a");
    assert.ok(fs.existsSync(path.join(a, "from-b.txt")));
    assert.ok(!fs.existsSync(path.join(a, "a/b/c")));
    assert.ok(fs.existsSync(path.join(b, "renamed dir/and more/file with spaces")));
    assert.equal(fs.statSync(path.join(a, "a/one")).mode & 0o777, 0o640);
  });

  it("a directory changed on both sides ends with the replica's attributes on both (last writer at the holder wins)", async () => {
    const a = dir();
    const b = dir();
    write(a, "d/one", "1");
    assert.equal((await syncJson([a, b])).code, 0);
    // The holder's scan journals its mtime first; the replica's, reintegrated after it, is the last writer.
    write(b, "d/from-b", "b");
    fs.utimesSync(path.join(b, "d"), new Date("2020-01-01T00:00:00Z"), new Date("2020-01-01T00:00:00Z"));
    write(a, "d/from-a", "a");
    fs.utimesSync(path.join(a, "d"), new Date("2021-01-01T00:00:00Z"), new Date("2021-01-01T00:00:00Z"));
    const r = await syncJson([a, b]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(manifest(a), manifest(b));
    assert.equal(fs.statSync(path.join(a, "d")).mtime.toISOString(), "2021-01-01T00:00:00.000Z");
    const again = await syncJson([a, b]);
    assert.equal(again.json!.recordsShipped + again.json!.recordsApplied, 0);
  });

  it("keeps roles when the arguments are swapped on a later run", async () => {
    const a = dir();
    const b = dir();
    write(a, "x", "1");
    assert.equal((await syncJson([a, b])).code, 0);
    write(b, "y", "2");
    const r = await syncJson([b, a]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(a, "y"), "utf8"), "2");
    assert.deepEqual(manifest(a), manifest(b));
  });

  it("unions two existing trees on the first run; different content at one path is a conflict, and both versions stay (default policy)", async () => {
    const a = dir();
    const b = dir();
    write(a, "only-a", "a");
    write(b, "only-b", "b");
    write(a, "same", "identical");
    write(b, "same", "identical");
    write(a, "clash", "version a");
    write(b, "clash", "version b");
    const r = await syncJson([a, b]);
    assert.equal(r.code, 3, "exit code 3 means conflicts");
    assert.deepEqual(r.json!.conflicts.map((c) => [c.path, c.kind, c.policy, c.winner]), [["clash", "create/create", "both", "both"]]);
    for (const root of [a, b]) {
      assert.equal(fs.readFileSync(path.join(root, "clash"), "utf8"), "version b");
      const copies = fs.readdirSync(root).filter((n) => n.startsWith("clash.conflict-"));
      assert.equal(copies.length, 1, copies.join(", "));
      assert.equal(fs.readFileSync(path.join(root, copies[0]!), "utf8"), "version a");
    }
    assert.ok(fs.existsSync(path.join(a, "only-b")) && fs.existsSync(path.join(b, "only-a")));
    assert.equal(r.json!.filesSent, 2, "only-a and the conflict copy are sent; the identical file is adopted");
    const again = await syncJson([a, b]);
    assert.equal(again.code, 0);
    assert.deepEqual(manifest(a), manifest(b));
  });

  it("on the first run DEST's root takes SRC's mode, as with rsync -a, whichever side holds the file set", async () => {
    const mode = (d: string): number => fs.statSync(d).mode & 0o7777;
    const a = dir();
    const b = dir();
    write(a, "x", "1");
    fs.chmodSync(a, 0o751);
    fs.chmodSync(b, 0o700);
    assert.equal((await syncJson([a, b])).code, 0);
    assert.deepEqual([mode(a), mode(b)], [0o751, 0o751]);
    // b holds the file set now; a new replica c as DEST takes the holder's (SRC's) root
    const c = dir();
    fs.chmodSync(c, 0o700);
    assert.equal((await syncJson([b, c])).code, 0);
    assert.deepEqual([mode(b), mode(c)], [0o751, 0o751]);
    // later, a root's mode is a change like any other, in either direction
    fs.chmodSync(c, 0o755);
    assert.equal((await syncJson([b, c])).code, 0);
    assert.equal(mode(b), 0o755);
  });

  it("a directory the holder deleted comes back when the replica edited a file in it and moved a subdirectory out (policy both)", async () => {
    const a = dir();
    const b = dir();
    write(a, "d/f", "1");
    write(a, "d/sub/g", "g");
    padTree(a);
    assert.equal((await syncJson([a, b])).code, 0);
    fs.rmSync(path.join(b, "d"), { recursive: true });
    fs.appendFileSync(path.join(a, "d/f"), ", edited on the replica");
    fs.renameSync(path.join(a, "d/sub"), path.join(a, "sub2"));
    const r = await syncJson([a, b]);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(manifest(b), manifest(a));
    assert.equal(fs.readFileSync(path.join(b, "d/f"), "utf8"), "1, edited on the replica");
    const again = await syncJson([a, b]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json!.recordsShipped, 0, "nothing was left pending");
  });

  it("a directory the holder deleted comes back with the replica's changed entry only; its other entries stay deleted", async () => {
    const a = dir();
    const b = dir();
    write(a, "m/edited", "1");
    write(a, "m/untouched/deep/file", "2");
    write(a, "m/also-untouched", "3");
    padTree(a);
    assert.equal((await syncJson([a, b])).code, 0);
    fs.rmSync(path.join(b, "m"), { recursive: true });
    fs.appendFileSync(path.join(a, "m/edited"), ", edited on the replica");
    const r = await syncJson([a, b]);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(manifest(a), manifest(b));
    assert.deepEqual(fs.readdirSync(path.join(a, "m")), ["edited"]);
    const again = await syncJson([a, b]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json!.recordsShipped + again.json!.recordsApplied, 0);
  });

  it("a directory the replica deleted comes back with what the holder created in it, however deep", async () => {
    const a = dir();
    const b = dir();
    write(a, "m/f", "1");
    write(a, "m/d1/g", "2");
    padTree(a);
    assert.equal((await syncJson([a, b])).code, 0);
    fs.rmSync(path.join(a, "m"), { recursive: true });
    write(b, "m/d1/new", "made on the holder");
    const r = await syncJson([a, b]);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(r.json!.conflicts.map((c) => c.kind), ["delete/create-inside", "delete/create-inside"]);
    assert.deepEqual(manifest(a), manifest(b));
    assert.equal(fs.readFileSync(path.join(a, "m/d1/new"), "utf8"), "made on the holder");
  });

  it("two directories each moved into the other, one on each side: the holder's move stands, and the trees converge (rename/cycle)", async () => {
    const a = dir();
    const b = dir();
    write(a, "x/in-x", "x");
    write(a, "y/in-y", "y");
    assert.equal((await syncJson([a, b])).code, 0);
    fs.renameSync(path.join(a, "x"), path.join(a, "y/x-moved"));
    fs.renameSync(path.join(b, "y"), path.join(b, "x/y-moved"));
    const r = await syncJson([a, b]);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(r.json!.conflicts.map((c) => c.kind), ["rename/cycle"]);
    assert.deepEqual(manifest(a), manifest(b));
    assert.equal(fs.readFileSync(path.join(a, "x/y-moved/in-y"), "utf8"), "y");
    const again = await syncJson([a, b]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json!.recordsShipped + again.json!.recordsApplied, 0);
  });

  it("several changes to one file in one sync of one replica reach another replica whole", async () => {
    const a = dir();
    const b = dir();
    const h = dir();
    write(a, "doc.txt", "v1");
    write(a, "page.html", "p1");
    assert.equal((await syncJson([a, h])).code, 0);
    assert.equal((await syncJson([b, h])).code, 0);
    // on b, in one sync: a rename then an edit of one file, an edit then a chmod of another
    fs.renameSync(path.join(b, "doc.txt"), path.join(b, "notes.txt"));
    fs.appendFileSync(path.join(b, "notes.txt"), ", edited on b");
    fs.appendFileSync(path.join(b, "page.html"), ", edited on b");
    fs.chmodSync(path.join(b, "page.html"), 0o600);
    assert.equal((await syncJson([b, h])).code, 0);
    const r = await syncJson([a, h]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json!.conflicts, []);
    assert.deepEqual(manifest(a), manifest(h));
    assert.deepEqual(manifest(b), manifest(h));
    assert.equal(fs.readFileSync(path.join(a, "notes.txt"), "utf8"), "v1, edited on b");
  });

  it("--dry-run lists the changes and makes none", async () => {
    const a = dir();
    const b = dir();
    write(a, "x", "1");
    assert.equal((await syncJson([a, b])).code, 0);
    write(a, "new", "n");
    fs.rmSync(path.join(a, "x"));
    write(b, "theirs", "t");
    const before = [manifest(a), manifest(b)];
    const r = await syncJson(["--dry-run", a, b]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.json!.itemized!;
    assert.ok(lines.some((l) => l.startsWith(">") && l.includes("create") && l.endsWith("new")), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith(">") && l.includes("delete") && l.endsWith("x")), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("<") && l.includes("create") && l.endsWith("theirs")), lines.join("\n"));
    assert.deepEqual([manifest(a), manifest(b)], before);
    const real = await syncJson([a, b]);
    assert.equal(real.code, 0);
    assert.deepEqual(manifest(a), manifest(b));
  });

  it("--mirror makes DEST an exact copy and keeps every DEST-side version it reverts (SRC holds, DEST is its replica)", async () => {
    const a = dir();
    const b = dir();
    write(a, "index.html", "site");
    write(a, "d/page", "page");
    assert.equal((await syncJson(["--mirror", a, b])).code, 0);
    assert.equal((await syncJson(["--mirror", a, b])).json!.holder, "src");
    write(b, "index.html", "defaced");
    write(b, "extra/junk", "junk");
    fs.rmSync(path.join(b, "d/page"));
    write(a, "news", "fresh");
    const r = await syncJson(["--mirror", a, b]);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(r.json!.conflicts.map((c) => [c.path, c.kind]).sort(), [
      ["d/page", "mirror/revert"],
      ["extra", "mirror/revert"],
      ["extra/junk", "mirror/revert"],
      ["index.html", "mirror/revert"],
    ]);
    assert.deepEqual(manifest(b), manifest(a));
    const log = fs.readFileSync(path.join(b, ".intermezzo/conflicts.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { path: string; stored?: string });
    const kept = new Map(log.filter((e) => e.stored).map((e) => [e.path, fs.readFileSync(path.join(b, e.stored!), "utf8")]));
    assert.equal(kept.get("index.html"), "defaced");
    assert.equal(kept.get("extra/junk"), "junk");
    const again = await syncJson(["--mirror", a, b]);
    assert.equal(again.code, 0);
    assert.equal(again.json!.recordsApplied, 0);
  });

  it("--mirror from a replica onto its holder settles conflicts for SRC and reverts the rest: an edit on both sides, a DEST edit of a file SRC deleted, a DEST rename with an edit inside", async () => {
    const a = dir();
    const b = dir();
    write(a, "index.html", "v1");
    write(a, "other", "keep");
    write(a, "d/y", "y");
    // a two-way file set first: DEST (b) holds, and an existing file set keeps its roles
    assert.equal((await syncJson([a, b])).code, 0);
    assert.equal((await syncJson(["--mirror", a, b])).json!.holder, "dest");
    write(a, "index.html", "master");
    write(b, "index.html", "defaced");
    fs.rmSync(path.join(a, "other"));
    write(b, "other", "edited on DEST");
    write(b, "d/y", "z");
    fs.renameSync(path.join(b, "d"), path.join(b, "e"));
    const r = await syncJson(["--mirror", a, b]);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(r.json!.conflicts.map((c) => [c.path, c.kind, c.policy, c.winner]).sort(), [
      ["index.html", "update/update", "client", "client"],
      ["other", "delete/update", "client", "client"],
    ]);
    assert.deepEqual(manifest(b), manifest(a));
    const kept = fs.readFileSync(path.join(b, ".intermezzo/conflicts.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { stored: string });
    const versions = kept.map((e) => fs.readFileSync(path.join(b, e.stored), "utf8")).sort();
    assert.deepEqual(versions, ["defaced", "edited on DEST", "z"]);
    const again = await syncJson(["--mirror", a, b]);
    assert.equal(again.code, 0, again.stderr);
  });

  it("refuses a missing root, a vanished holder, and a mass deletion, and --force overrides the last two", async () => {
    const a = dir();
    const b = dir();
    for (let i = 0; i < 20; i++) write(a, `f${i}`, String(i));
    assert.equal((await syncJson([a, b])).code, 0);

    const missing = await syncJson([path.join(a, "nope"), b]);
    assert.equal(missing.code, 5);
    assert.match(missing.stderr, /ROOT_MISSING/);

    for (let i = 0; i < 15; i++) fs.rmSync(path.join(a, `f${i}`));
    const mass = await syncJson([a, b]);
    assert.equal(mass.code, 5);
    assert.match(mass.stderr, /MASS_DELETE/);
    assert.equal(fs.readdirSync(b).filter((n) => n.startsWith("f")).length, 20, "nothing deleted on DEST");
    const forced = await syncJson(["--force", a, b]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(manifest(a), manifest(b));

    fs.rmSync(path.join(b, ".intermezzo"), { recursive: true });
    const gone = await syncJson([a, b]);
    assert.equal(gone.code, 5);
    assert.match(gone.stderr, /NOT_A_FILESET/);

    // a first sync scans while the holder is being reached; if it never is, the new replica is undone
    const c = dir();
    write(c, "kept.txt", "mine");
    const key = path.join(dir(), "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const unreachable = await syncJson(["-i", key, c, "ssh://127.0.0.1:1/x"]);
    assert.equal(unreachable.code, 6, unreachable.stderr);
    assert.match(unreachable.stderr, /CONNECTION_LOST/);
    assert.deepEqual(fs.readdirSync(c), ["kept.txt"], "no .intermezzo/ left in a replica that never attached");
  });

  it("never runs two syncs of one replica at once (lock), and skips special files as problems with --no-specials", async () => {
    const a = dir();
    const b = dir();
    write(a, "x", "1");
    assert.equal((await syncJson([a, b])).code, 0);
    // the replica (a) is busy; its holder (b) serves any number of other replicas meanwhile
    fs.writeFileSync(path.join(a, ".intermezzo/lock"), JSON.stringify({ pid: process.pid, host: (await import("node:os")).hostname(), what: "test" }));
    const locked = await syncJson([a, b]);
    assert.equal(locked.code, 7);
    assert.match(locked.stderr, /LOCKED/);
    fs.rmSync(path.join(a, ".intermezzo/lock"));

    const { execFileSync } = await import("node:child_process");
    execFileSync("mkfifo", [path.join(a, "pipe")]);
    write(a, "y", "2");
    const partial = await syncJson(["--no-specials", a, b]);
    assert.equal(partial.code, 4, partial.stderr);
    assert.deepEqual(partial.json!.problems.map((p) => [p.path, p.code]), [["pipe", "UNSUPPORTED"]]);
    assert.equal(fs.readFileSync(path.join(b, "y"), "utf8"), "2");
  });

  it("an update the replica cannot take in (an immutable file) is a problem on every run until its cause is gone, then it arrives", async () => {
    const a = dir();
    const b = dir();
    write(a, "edited", "v1");
    write(a, "deleted", "d");
    assert.equal((await syncJson([a, b])).code, 0);
    // two records about one object: a rename, then a close that no longer fits once the rename failed
    fs.renameSync(path.join(b, "edited"), path.join(b, "moved"));
    write(b, "moved", "v2, from the holder");
    fs.rmSync(path.join(b, "deleted"));
    write(b, "fine", "arrives meanwhile");
    await whileImmutable(["edited", "deleted"].map((n) => path.join(a, n)), async () => {
      for (let run = 0; run < 2; run++) {
        const r = await syncJson([a, b]);
        assert.equal(r.code, 4, r.stderr);
        assert.deepEqual(r.json!.problems.map((p) => [p.path, p.code]).sort(), [["deleted", "EPERM"], ["edited", "EPERM"]], `run ${run}`);
        assert.deepEqual(r.json!.conflicts, [], "a record after one that failed is not a conflict");
      }
      assert.equal(fs.readFileSync(path.join(a, "fine"), "utf8"), "arrives meanwhile");
    });
    const fixed = await syncJson([a, b]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(fixed.json!.recordsApplied, 2, "both objects brought in, and counted as changes");
    assert.deepEqual(manifest(a), manifest(b));
    assert.equal(fs.readFileSync(path.join(a, "moved"), "utf8"), "v2, from the holder");
    const quiet = await syncJson([a, b]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.json!.filesReceived, 0);
  });

  it("--mirror when SRC edited a file that DEST renamed: DEST gets SRC's name and content, nothing left pending", async () => {
    const a = dir();
    const b = dir();
    write(a, "page.html", "v1");
    write(a, "other", "o");
    assert.equal((await syncJson(["--mirror", a, b])).code, 0);
    fs.appendFileSync(path.join(a, "page.html"), ", edited in SRC");
    fs.renameSync(path.join(b, "page.html"), path.join(b, "renamed.html"));
    const r = await syncJson(["--mirror", a, b]);
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(manifest(b), manifest(a));
    const again = await syncJson(["--mirror", a, b]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json!.recordsShipped, 0, "nothing was left pending");
  });

  it("--mirror after a two-way run that could not take in a holder update still makes DEST an exact copy", async () => {
    const a = dir();
    const b = dir();
    write(a, "f", "SRC's version");
    write(a, "g", "g");
    assert.equal((await syncJson([a, b])).code, 0);
    write(b, "f", "DEST's edit");
    fs.rmSync(path.join(b, "g"));
    await whileImmutable([path.join(a, "f"), path.join(a, "g")], async () => assert.equal((await syncJson([a, b])).code, 4));
    const mirrored = await syncJson(["--mirror", a, b]);
    assert.equal(mirrored.code, 0, mirrored.stderr);
    assert.deepEqual(manifest(b), manifest(a));
    assert.equal(fs.readFileSync(path.join(b, "f"), "utf8"), "SRC's version");
    const kept = execFileSync("grep", ["-rl", "DEST's edit", path.join(b, ".intermezzo/conflicts")], { encoding: "utf8" });
    assert.ok(kept.trim() !== "", "the holder's reverted version is kept");
    const quiet = await syncJson([a, b]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.json!.filesReceived + quiet.json!.recordsApplied, 0);
    assert.deepEqual(manifest(b), manifest(a));
  });

  it("a change the holder cannot take in (an immutable file) stays pending and is shipped again on the next run", async () => {
    const a = dir();
    const b = dir();
    write(a, "f", "v1");
    assert.equal((await syncJson([a, b])).code, 0);
    write(a, "f", "v2, from the replica");
    await whileImmutable([path.join(b, "f")], async () => {
      for (let run = 0; run < 2; run++) {
        const r = await syncJson([a, b]);
        assert.equal(r.code, 4, r.stderr);
        assert.deepEqual(r.json!.problems.map((p) => [p.path, p.code, p.message.split(",")[0]]), [["f", "REMOTE_ERROR", "EPERM: operation not permitted"]], `run ${run}`);
      }
    });
    const fixed = await syncJson([a, b]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(fs.readFileSync(path.join(b, "f"), "utf8"), "v2, from the replica");
    assert.deepEqual(manifest(a), manifest(b));
  });

  it("replicates numeric ownership (the suite runs as root), and not with --no-owner", async () => {
    const a = dir();
    const b = dir();
    write(a, "owned", "o");
    fs.chownSync(path.join(a, "owned"), 1234, 5678);
    assert.equal((await syncJson([a, b])).code, 0);
    const st = fs.statSync(path.join(b, "owned"));
    assert.deepEqual([st.uid, st.gid], [1234, 5678]);
    const c = dir();
    const d = dir();
    write(c, "owned", "o");
    fs.chownSync(path.join(c, "owned"), 1234, 5678);
    assert.equal((await syncJson(["--no-owner", c, d])).code, 0);
    assert.equal(fs.statSync(path.join(d, "owned")).uid, process.getuid!());
  });
});
