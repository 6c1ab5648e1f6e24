/**
 * Conflict notification and settling by hand, through the built CLIs as an admin runs them:
 * `--notify-command` gets the list on stdin, `--json` lists the conflicts, the file set's config
 * sets the policy and its glob overrides, `intermezzo conflicts` lists them (and `intermezzo status`
 * counts the open ones), and `intermezzo resolve` settles a parked or auto-resolved one so the
 * choice replicates on the next sync.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import type { ConflictEntry } from "../../src/conflict/store.js";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { manifest, tempDir } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function write(root: string, rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}
const read = (root: string, rel: string): string => fs.readFileSync(path.join(root, rel), "utf8");

/** Two synced trees (a: the replica, b: the holder) where both sides then edited each of `files`. */
async function conflicted(files: string[]): Promise<{ a: string; b: string }> {
  const a = tempDir("imz-rs-a-");
  const b = tempDir("imz-rs-b-");
  dirs.push(a, b);
  for (const f of files) write(a, f, "base");
  assert.equal((await syncJson([a, b])).code, 0);
  for (const f of files) {
    write(a, f, `client ${f}`);
    write(b, f, `server ${f}`);
  }
  return { a, b };
}

async function conflicts(root: string): Promise<ConflictEntry[]> {
  const r = await runCli(IMZ_BIN, ["conflicts", "--json", root]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ConflictEntry[];
}

describe("conflict notification and intermezzo resolve", () => {
  it("--notify-command runs once with the conflicts as JSON on stdin; the config's glob override picks the policy per path", async () => {
    const { a, b } = await conflicted(["page.html", "app.log"]);
    fs.writeFileSync(path.join(a, ".intermezzo/config.json"), JSON.stringify({ policy: "server", overrides: { "*.log": "client" } }));
    const out = path.join(a, "..", `notified-${path.basename(a)}.json`);
    dirs.push(out);
    const r = await syncJson(["--notify-command", `cat > '${out}'; echo notified >&2`, a, b]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /notified/);
    const note = JSON.parse(fs.readFileSync(out, "utf8")) as { conflicts: Array<{ path: string; kind: string; policy: string }> };
    assert.deepEqual(note.conflicts.map((c) => [c.path, c.kind, c.policy]).sort(), [["app.log", "update/update", "client"], ["page.html", "update/update", "server"]]);
    assert.deepEqual(r.json!.conflicts.map((c) => c.path).sort(), ["app.log", "page.html"]);
    for (const root of [a, b]) {
      assert.equal(read(root, "page.html"), "server page.html");
      assert.equal(read(root, "app.log"), "client app.log");
    }
    const quiet = await syncJson(["--notify-command", `echo should-not-run >&2`, a, b]);
    assert.equal(quiet.code, 0);
    assert.doesNotMatch(quiet.stderr, /should-not-run/, "no conflicts, no notification");
  });

  it("a failing notify command is reported with NOTIFY_FAILED but the sync's result stands", async () => {
    const { a, b } = await conflicted(["f"]);
    const r = await syncJson(["--notify-command", "exit 9", a, b]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /NOTIFY_FAILED/);
    assert.deepEqual(manifest(a), manifest(b));
  });

  it("a bad config or policy is refused with a clear error before anything changes", async () => {
    const { a, b } = await conflicted(["f"]);
    const before = [manifest(a), manifest(b)];
    const bad = await syncJson(["--policy", "loudest", a, b]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /USAGE.*loudest/);
    fs.writeFileSync(path.join(a, ".intermezzo/config.json"), JSON.stringify({ policy: "newest" }));
    const cfg = await syncJson([a, b]);
    assert.equal(cfg.code, 2);
    assert.match(cfg.stderr, /CONFIG_INVALID/);
    assert.deepEqual([manifest(a), manifest(b)], before);
  });

  it("manual parks the replica's version; resolve --keep client brings it back and it replicates", async () => {
    const { a, b } = await conflicted(["doc.txt"]);
    const r = await syncJson(["--policy", "manual", a, b]);
    assert.equal(r.code, 3);
    assert.equal(read(a, "doc.txt"), "server doc.txt");
    const [open] = await conflicts(a);
    assert.equal(open?.status, "open");
    assert.equal(open?.kept, "client");
    assert.equal(read(a, open.stored!), "client doc.txt");

    const status = async (): Promise<{ role: string; pending: number; conflicts: { open: number } }> => JSON.parse((await runCli(IMZ_BIN, ["status", "--json", a])).stdout);
    assert.deepEqual([(await status()).role, (await status()).pending, (await status()).conflicts.open], ["replica", 0, 1]);

    const res = await runCli(IMZ_BIN, ["resolve", a, "doc.txt", "--keep", "client"]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(read(a, "doc.txt"), "client doc.txt");
    const settled = await status();
    assert.equal(settled.conflicts.open, 0);
    assert.ok(settled.pending > 0, "the kept version waits in the CML for the next sync");
    assert.equal((await conflicts(a))[0]?.status, "resolved");
    const s = await syncJson([a, b]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(read(b, "doc.txt"), "client doc.txt");

    const twice = await runCli(IMZ_BIN, ["resolve", a, "doc.txt", "--keep", "client"]);
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /CONFLICT_UNKNOWN/);
  });

  it("resolve --keep both and --keep FILE; --keep server on the holder brings back the version a replica's win replaced", async () => {
    const { a, b } = await conflicted(["x.txt", "y.txt"]);
    assert.equal((await syncJson(["--policy", "server", "--policy", "y.txt=client", a, b])).code, 3);
    assert.equal(read(a, "x.txt"), "server x.txt");
    assert.equal(read(b, "y.txt"), "client y.txt");

    const both = await runCli(IMZ_BIN, ["resolve", a, "x.txt", "--keep", "both"]);
    assert.equal(both.code, 0, both.stderr);
    const copy = fs.readdirSync(a).find((n) => n.startsWith("x.conflict-"));
    assert.ok(copy, fs.readdirSync(a).join(", "));
    assert.equal(read(a, copy), "client x.txt");
    assert.equal(read(a, "x.txt"), "server x.txt");

    const held = (await conflicts(b)).find((e) => e.path === "y.txt");
    assert.equal(held?.kept, "server");
    const back = await runCli(IMZ_BIN, ["resolve", b, "y.txt", "--keep", "server"]);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(read(b, "y.txt"), "server y.txt");

    assert.equal((await syncJson([a, b])).code, 0);
    assert.deepEqual(manifest(a), manifest(b));
    assert.equal(read(a, copy), "client x.txt");
    assert.equal(read(a, "y.txt"), "server y.txt");

    write(a, "x.txt", "edited again");
    write(b, "x.txt", "and again");
    assert.equal((await syncJson(["--policy", "manual", a, b])).code, 3);
    const merged = path.join(a, "..", `merged-${path.basename(a)}`);
    dirs.push(merged);
    fs.writeFileSync(merged, "merged by hand");
    const byFile = await runCli(IMZ_BIN, ["resolve", a, "x.txt", "--keep", merged]);
    assert.equal(byFile.code, 0, byFile.stderr);
    assert.equal((await syncJson([a, b])).code, 0);
    assert.equal(read(b, "x.txt"), "merged by hand");

    const outside = await runCli(IMZ_BIN, ["resolve", a, "../x.txt", "--keep", "client"]);
    assert.equal(outside.code, 2);
    assert.match(outside.stderr, /USAGE/);
    assert.match(outside.stderr, /hint:/);
  });

  it("keep-both leaves at most keepCopies conflict copies beside a path; older ones stay in the store", async () => {
    const { a, b } = await conflicted([]);
    write(a, "n.txt", "v0");
    assert.equal((await syncJson([a, b])).code, 0);
    fs.writeFileSync(path.join(a, ".intermezzo/config.json"), JSON.stringify({ policy: "both", keepCopies: 2 }));
    for (let i = 1; i <= 3; i++) {
      write(a, "n.txt", `client ${i}`);
      write(b, "n.txt", `server ${i}`);
      assert.equal((await syncJson([a, b])).code, 3);
      await new Promise((r) => setTimeout(r, 1100)); // copies are named by the second
    }
    assert.equal((await syncJson([a, b])).code, 0);
    const copies = fs.readdirSync(a).filter((n) => n.startsWith("n.conflict-")).sort();
    assert.equal(copies.length, 2, copies.join(", "));
    assert.deepEqual(copies.map((c) => read(a, c)), ["client 2", "client 3"]);
    assert.deepEqual(manifest(a), manifest(b));
    const stored = (await conflicts(a)).filter((e) => e.stored).map((e) => read(a, e.stored!));
    assert.ok(stored.includes("client 1"), "the pruned copy is still in the store");
  });
});
