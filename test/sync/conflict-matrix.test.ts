/**
 * Every conflict kind × every policy, end to end through `intermezzo-sync` on two local file sets
 * (SRC = the replica, the "client"; DEST = the holder, the "server"). Each row is a named fixture:
 * a starting tree, the client's and the server's changes, and the tree each effective winner leaves.
 * For every cell: the sync reports the conflict kind and exits 3; both sides hold the expected tree;
 * one more sync changes nothing, ships nothing and exits 0; and every version that existed on either side before
 * the sync is still on disk (visible, or under a `.intermezzo/conflicts/` store). The fixtures' directories
 * start empty, so that no deliberate one-sided deletion (not a conflict, and not kept) mixes in.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import type { Policy } from "../../src/conflict/policy.js";
import { syncJson } from "../helpers/cli.js";
import { manifest, tempDir } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A tree as text: file path → content, directory → "/", symlink → "->target". */
type Tree = Record<string, string>;

function build(root: string, tree: Tree): void {
  for (const [rel, v] of Object.entries(tree)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (v === "/") fs.mkdirSync(p, { recursive: true });
    else if (v.startsWith("->")) fs.symlinkSync(v.slice(2), p);
    else fs.writeFileSync(p, v);
  }
}

/** The visible tree, with conflict copies' replica and time normalised to `*`. */
function visible(root: string): Tree {
  const out: Tree = {};
  for (const e of manifest(root)) {
    const key = e.path.replace(/\.conflict-[0-9a-f]+-\d{8}T\d{6}Z(-\d+)?/g, ".conflict-*");
    out[key] = e.type === "d" ? "/" : e.type === "l" ? `->${e.target}` : fs.readFileSync(path.join(root, e.path), "utf8");
  }
  return out;
}

/** Every version on disk: visible files and links, and everything kept under the conflict store. */
function versions(root: string): Set<string> {
  const out = new Set(Object.values(visible(root)).filter((v) => v !== "/"));
  const store = path.join(root, ".intermezzo", "conflicts");
  if (fs.existsSync(store)) {
    for (const f of fs.readdirSync(store, { recursive: true, withFileTypes: true })) {
      if (!f.isFile() || f.name === "record.json") continue;
      const text = fs.readFileSync(path.join(f.parentPath, f.name), "utf8");
      out.add(f.name.endsWith(".symlink") ? `->${text}` : text);
    }
  }
  return out;
}

const HOUR_AGO = new Date(Date.now() - 3600_000);
const HOUR_AHEAD = new Date(Date.now() + 3600_000);

/** Makes `rel` under `root` older (so the other side's version is the newer one). */
function age(root: string, rel: string): void {
  fs.utimesSync(path.join(root, rel), HOUR_AGO, HOUR_AGO);
}
function rejuvenate(root: string, rel: string): void {
  fs.utimesSync(path.join(root, rel), HOUR_AHEAD, HOUR_AHEAD);
}

interface Row {
  name: string;
  kind: string;
  start: Tree;
  client: (a: string) => void;
  server: (b: string) => void;
  /** The tree left when the server's version wins, the client's wins, and both are kept. */
  server_: Tree;
  client_: Tree;
  both_: Tree;
  /** Who `newer` picks in this fixture. */
  newer: "server_" | "client_" | "both_";
}

const rm = (root: string, rel: string): void => fs.rmSync(path.join(root, rel), { recursive: true });
const mv = (root: string, from: string, to: string): void => fs.renameSync(path.join(root, from), path.join(root, to));
const put = (root: string, rel: string, text: string): void => build(root, { [rel]: text });

const ROWS: Row[] = [
  {
    name: "both sides edit one file",
    kind: "update/update",
    start: { "f.txt": "base" },
    client: (a) => { put(a, "f.txt", "client"); rejuvenate(a, "f.txt"); },
    server: (b) => put(b, "f.txt", "server"),
    server_: { "f.txt": "server" },
    client_: { "f.txt": "client" },
    both_: { "f.txt": "server", "f.conflict-*.txt": "client" },
    newer: "client_",
  },
  {
    name: "the client edits a file the server deleted",
    kind: "update/delete",
    start: { "f": "base", "g": "keep" },
    client: (a) => put(a, "f", "client"),
    server: (b) => rm(b, "f"),
    server_: { "g": "keep" },
    client_: { "f": "client", "g": "keep" },
    both_: { "f": "client", "g": "keep" },
    newer: "client_",
  },
  {
    name: "the client deletes a file the server edited",
    kind: "delete/update",
    start: { "f": "base", "g": "keep" },
    client: (a) => rm(a, "f"),
    server: (b) => put(b, "f", "server"),
    server_: { "f": "server", "g": "keep" },
    client_: { "g": "keep" },
    both_: { "f": "server", "g": "keep" },
    newer: "server_",
  },
  {
    name: "both sides create a file at one name",
    kind: "create/create",
    start: { "g": "keep" },
    client: (a) => { put(a, "n.html", "client"); age(a, "n.html"); },
    server: (b) => put(b, "n.html", "server"),
    server_: { "g": "keep", "n.html": "server" },
    client_: { "g": "keep", "n.html": "client" },
    both_: { "g": "keep", "n.html": "server", "n.conflict-*.html": "client" },
    newer: "server_",
  },
  {
    name: "both sides create a symlink at one name",
    kind: "create/create",
    start: { "g": "keep" },
    client: (a) => build(a, { l: "->client-target" }),
    server: (b) => build(b, { l: "->server-target" }),
    server_: { "g": "keep", "l": "->server-target" },
    client_: { "g": "keep", "l": "->client-target" },
    both_: { "g": "keep", "l": "->server-target", "l.conflict-*": "->client-target" },
    newer: "server_",
  },
  {
    name: "the client makes a file where the server made a directory",
    kind: "type-change",
    start: { "g": "keep" },
    client: (a) => put(a, "n", "client"),
    server: (b) => build(b, { "n/inner": "server" }),
    // a directory's name cannot be taken by a file without deleting a tree: the client keeps both
    server_: { "g": "keep", "n": "/", "n/inner": "server" },
    client_: { "g": "keep", "n": "/", "n/inner": "server", "n.conflict-*": "client" },
    both_: { "g": "keep", "n": "/", "n/inner": "server", "n.conflict-*": "client" },
    newer: "server_",
  },
  {
    name: "the client makes a directory where the server made a file",
    kind: "type-change",
    start: { "g": "keep" },
    client: (a) => build(a, { "n/inner": "client" }),
    server: (b) => { put(b, "n", "server"); age(b, "n"); },
    // the client's losing directory cannot be kept as one version: it is kept beside instead
    server_: { "g": "keep", "n": "server", "n.conflict-*": "/", "n.conflict-*/inner": "client" },
    client_: { "g": "keep", "n": "/", "n/inner": "client" },
    both_: { "g": "keep", "n": "server", "n.conflict-*": "/", "n.conflict-*/inner": "client" },
    newer: "client_",
  },
  {
    // the discard of the client's moved file must leave its new directory as the holder has it
    name: "the client moves a file the server deleted into another directory",
    kind: "rename/delete",
    start: { "f": "base", "g": "keep", "e": "/" },
    client: (a) => mv(a, "f", "e/f"),
    server: (b) => rm(b, "f"),
    server_: { "e": "/", "g": "keep" },
    client_: { "e": "/", "e/f": "base", "g": "keep" },
    both_: { "e": "/", "e/f": "base", "g": "keep" },
    newer: "client_",
  },
  {
    name: "both sides rename one file to different names",
    kind: "rename/rename",
    start: { "f": "base" },
    client: (a) => mv(a, "f", "g"),
    server: (b) => mv(b, "f", "h"),
    server_: { "h": "base" },
    client_: { "g": "base" },
    both_: { "h": "base" },
    newer: "client_",
  },
  {
    name: "the client renames a file the server edited",
    kind: "rename/update",
    start: { "f": "base" },
    client: (a) => mv(a, "f", "g"),
    server: (b) => { put(b, "f", "server"); age(b, "f"); },
    server_: { "f": "server" },
    client_: { "g": "server" },
    both_: { "g": "server" },
    newer: "client_",
  },
  {
    name: "the client changes the attributes of a file the server edited",
    kind: "attr/update",
    start: { "f": "base" },
    client: (a) => { fs.chmodSync(path.join(a, "f"), 0o600); age(a, "f"); },
    server: (b) => put(b, "f", "server"),
    server_: { "f": "server" },
    client_: { "f": "server" },
    both_: { "f": "server" },
    newer: "server_",
  },
  {
    name: "the client moves a file into a directory the server deleted",
    kind: "create/delete-parent",
    start: { "f": "base", "d": "/" },
    client: (a) => mv(a, "f", "d/f"),
    server: (b) => rm(b, "d"),
    server_: { "f": "base" },
    client_: { "d": "/", "d/f": "base" },
    both_: { "d": "/", "d/f": "base" },
    newer: "client_",
  },
  {
    name: "the client creates a file in a directory the server deleted",
    kind: "create/delete-parent",
    start: { "d": "/", "g": "keep" },
    client: (a) => put(a, "d/new", "client"),
    server: (b) => rm(b, "d"),
    server_: { "g": "keep" },
    client_: { "d": "/", "d/new": "client", "g": "keep" },
    both_: { "d": "/", "d/new": "client", "g": "keep" },
    newer: "client_",
  },
  {
    name: "the client deletes a directory the server created a file in",
    kind: "delete/create-inside",
    start: { "d": "/", "g": "keep" },
    client: (a) => rm(a, "d"),
    server: (b) => put(b, "d/new", "server"),
    // a directory removal never removes entries its maker never saw, whatever the policy
    server_: { "d": "/", "d/new": "server", "g": "keep" },
    client_: { "d": "/", "d/new": "server", "g": "keep" },
    both_: { "d": "/", "d/new": "server", "g": "keep" },
    newer: "server_",
  },
];

const POLICIES: Policy[] = ["server", "client", "newer", "both", "manual"];

function expected(row: Row, policy: Policy): Tree {
  switch (policy) {
    case "server":
    case "manual":
      return row.server_;
    case "client":
      return row.client_;
    case "both":
      return row.both_;
    case "newer":
      return row[row.newer];
  }
}

function withDirs(tree: Tree): Tree {
  const out: Tree = { ...tree };
  for (const p of Object.keys(tree)) for (let d = path.dirname(p); d !== "."; d = path.dirname(d)) out[d] ??= "/";
  return out;
}

interface LogLine {
  kind: string;
  policy?: string;
  status: string;
}

describe("conflict policies, every kind × every policy, through intermezzo-sync", () => {
  for (const row of ROWS) {
    for (const policy of POLICIES) {
      it(`${row.kind}: ${row.name} — policy ${policy}`, async () => {
        const a = tempDir("imz-cm-a-");
        const b = tempDir("imz-cm-b-");
        dirs.push(a, b);
        build(a, row.start);
        const first = await syncJson([a, b]);
        assert.equal(first.code, 0, first.stderr);
        row.client(a);
        row.server(b);
        const before = new Set([...versions(a), ...versions(b)]);

        const r = await syncJson(["--policy", policy, a, b]);
        assert.equal(r.code, 3, `exit ${r.code}: ${r.stderr}${r.stdout}`);
        const kinds = r.json!.conflicts.map((c) => c.kind);
        assert.ok(kinds.includes(row.kind as never), `expected ${row.kind}, got ${kinds.join(", ")}`);
        assert.ok(r.json!.conflicts.every((c) => c.policy === policy), JSON.stringify(r.json!.conflicts));

        const want = withDirs(expected(row, policy));
        assert.deepEqual(visible(a), want, "the replica's tree");
        assert.deepEqual(visible(b), want, "the holder's tree");

        const again = await syncJson(["--policy", policy, a, b]);
        assert.equal(again.code, 0, `second sync: ${again.stderr}${again.stdout}`);
        // the settlement left nothing for a scan to find (a directory's mtime its actions moved)
        assert.equal(again.json!.recordsShipped, 0, "the second sync ships nothing");
        assert.deepEqual(manifest(a), manifest(b));
        assert.deepEqual(visible(a), want);

        const after = new Set([...versions(a), ...versions(b)]);
        for (const v of before) assert.ok(after.has(v), `version ${JSON.stringify(v)} was lost`);

        const log = fs.readFileSync(path.join(a, ".intermezzo/conflicts.log"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as LogLine);
        const entry = log.find((e) => e.kind === row.kind);
        assert.ok(entry, "the conflict is in the replica's conflicts.log");
        assert.equal(entry.policy, policy);
        assert.equal(entry.status, policy === "manual" ? "open" : "auto");
      });
    }
  }
});

describe("changes that are not conflicts", () => {
  it("identical edits on both sides, and unrelated edits in one directory, conflict with nothing", async () => {
    const a = tempDir("imz-cm-a-");
    const b = tempDir("imz-cm-b-");
    dirs.push(a, b);
    build(a, { "d/one": "1", "d/two": "2", "same": "base" });
    assert.equal((await syncJson([a, b])).code, 0);
    put(a, "same", "identical edit");
    put(b, "same", "identical edit");
    put(a, "d/one", "client's");
    put(b, "d/two", "server's");
    put(a, "d/three", "new here");
    put(b, "d/four", "new there");
    build(a, { "both/x": "same" });
    build(b, { "both/x": "same" });
    rm(a, "d/one");
    build(a, { "d/one": "client's again" });
    const r = await syncJson([a, b]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(r.json!.conflicts, []);
    assert.deepEqual(manifest(a).map((e) => e.path), manifest(b).map((e) => e.path));
    assert.equal(fs.readFileSync(path.join(b, "d/two"), "utf8"), "server's");
    assert.equal(fs.readFileSync(path.join(a, "d/four"), "utf8"), "new there");
    assert.equal(fs.existsSync(path.join(a, ".intermezzo/conflicts.log")), false);
  });
});
