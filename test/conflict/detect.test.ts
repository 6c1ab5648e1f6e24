/**
 * The pure conflict core, table-driven (STYLE.md 13): `decide(server state, record)` for every
 * kind, the identical cases that are not conflicts, the policy pass, and the plans that carry a
 * winner out. No filesystem, network or clock.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decide, type ServerView } from "../../src/conflict/detect.js";
import { conflictName } from "../../src/conflict/naming.js";
import { effectiveWinner, planResolution } from "../../src/conflict/plan.js";
import { parseRules, policyFor, resolveConflict, type ConflictCase, type Policy } from "../../src/conflict/policy.js";
import type { FsObject } from "../../src/journal/fsdb.js";
import type { JournalRecord, NewRecord } from "../../src/journal/records.js";

const H = "aa"; // the holder's replica id
const V1 = `${H}:1`;
const V2 = `${H}:2`;

function obj(fid: string, type: "f" | "d" | "l", parent: string | null, name: string, more: Partial<FsObject> = {}): FsObject {
  return { fid, type, parent, name, version: V1, size: 0, mtimeNs: "1000", mode: 0o644, uid: 0, gid: 0, hash: "", target: null, flags: 3, ino: null, ctimeNs: null, xattrs: "", ...more };
}

/** A server state: the root, directory d, file f (hash h1) and symlink l in the root, unless changed. */
function server(...changes: Array<(m: Map<string, FsObject>) => void>): ServerView {
  const m = new Map<string, FsObject>();
  for (const o of [
    obj("root", "d", null, ""),
    obj("c:1", "d", "root", "d"),
    obj("c:2", "f", "root", "f", { hash: "h1", size: 5 }),
    obj("c:3", "l", "root", "l", { target: "t1" }),
  ]) m.set(o.fid, o);
  for (const c of changes) c(m);
  const all = (): FsObject[] => [...m.values()];
  return {
    get: (fid) => m.get(fid),
    typeOf: (fid) => m.get(fid)?.type,
    child: (p, n) => all().find((o) => o.parent === p && o.name === n),
    hasChildren: (fid) => all().some((o) => o.parent === fid),
    baseline: (fid) => m.get(fid)?.version ?? "",
  };
}

const edit = (fid: string, more: Partial<FsObject>) => (m: Map<string, FsObject>): void => void m.set(fid, { ...m.get(fid)!, version: V2, ...more });
const drop = (fid: string) => (m: Map<string, FsObject>): void => void m.delete(fid);
const add = (o: FsObject) => (m: Map<string, FsObject>): void => void m.set(o.fid, { ...o, version: V2 });

function rec(r: NewRecord): JournalRecord {
  return { ...r, seq: 7, origin: "bb", originSeq: 7 } as JournalRecord;
}
const T = { time: 1 };
const close = (hash: string, base = V1): JournalRecord => rec({ op: "close", fid: "c:2", base, content: { size: 3, mtimeNs: "2000", hash }, ...T });
const create = (name: string, hash: string, parent = "root", fid = "bb:9"): JournalRecord =>
  rec({ op: "create", fid, parent, name, attrs: { mode: 0o644 }, content: { size: 3, mtimeNs: "2000", hash }, ...T });
const mkdir = (name: string, parent = "root", fid = "bb:9"): JournalRecord => rec({ op: "mkdir", fid, parent, name, attrs: { mode: 0o755 }, ...T });
const rename = (fid: string, name: string, newParent: string, newName: string, base = V1): JournalRecord =>
  rec({ op: "rename", fid, parent: "root", name, newParent, newName, base, ...T });

interface Row {
  name: string;
  view: ServerView;
  record: JournalRecord;
  want: string;
}

const ROWS: Row[] = [
  { name: "a close on an unchanged file applies", view: server(), record: close("h2"), want: "apply" },
  { name: "update/update: both edited the file", view: server(edit("c:2", { hash: "h3" })), record: close("h2"), want: "update/update" },
  { name: "the same edit on both sides is identical", view: server(edit("c:2", { hash: "h2" })), record: close("h2"), want: "identical" },
  { name: "update/delete: the server deleted the file the client edited", view: server(drop("c:2")), record: close("h2"), want: "update/delete" },
  { name: "update/delete: attributes of a file the server deleted", view: server(drop("c:2")), record: rec({ op: "setattr", fid: "c:2", base: V1, attrs: { mode: 0o600 }, ...T }), want: "update/delete" },
  { name: "delete/update: the client deleted a file the server edited", view: server(edit("c:2", { hash: "h3" })), record: rec({ op: "unlink", fid: "c:2", parent: "root", name: "f", base: V1, ...T }), want: "delete/update" },
  { name: "a delete on both sides is identical", view: server(drop("c:2")), record: rec({ op: "unlink", fid: "c:2", parent: "root", name: "f", base: V1, ...T }), want: "identical" },
  { name: "create/create: two files with different content", view: server(add(obj("aa:5", "f", "root", "n", { hash: "h9" }))), record: create("n", "h2"), want: "create/create" },
  { name: "two files with the same content at one name are identical", view: server(add(obj("aa:5", "f", "root", "n", { hash: "h2" }))), record: create("n", "h2"), want: "identical" },
  { name: "two directories at one name merge", view: server(add(obj("aa:5", "d", "root", "n"))), record: mkdir("n"), want: "identical" },
  { name: "create/create: two symlinks with different targets", view: server(add(obj("aa:5", "l", "root", "n", { target: "x" }))), record: rec({ op: "symlink", fid: "bb:9", parent: "root", name: "n", target: "y", attrs: {}, ...T }), want: "create/create" },
  { name: "type-change: a file where the server made a directory", view: server(add(obj("aa:5", "d", "root", "n"))), record: create("n", "h2"), want: "type-change" },
  { name: "type-change: a directory where the server made a file", view: server(add(obj("aa:5", "f", "root", "n", { hash: "h2" }))), record: mkdir("n"), want: "type-change" },
  { name: "rename/rename: both renamed one file to different names", view: server(edit("c:2", { name: "h" })), record: rename("c:2", "f", "root", "g"), want: "rename/rename" },
  {
    name: "rename/cycle: the client moved d into e, which the server had moved into d",
    view: server(add(obj("c:4", "d", "c:1", "e"))),
    record: rename("c:1", "d", "c:4", "d2"),
    want: "rename/cycle",
  },
  { name: "rename/cycle: a directory moved into itself", view: server(), record: rename("c:1", "d", "c:1", "d2"), want: "rename/cycle" },
  { name: "a directory moved into a sibling directory applies", view: server(add(obj("c:4", "d", "root", "e"))), record: rename("c:1", "d", "c:4", "d"), want: "apply" },
  { name: "a record based on the server's current version applies (made after this connection's own changes)", view: server(edit("c:2", { hash: "h3" })), record: close("h2", V2), want: "apply" },
  { name: "the same rename on both sides is identical", view: server(edit("c:2", { name: "g" })), record: rename("c:2", "f", "root", "g"), want: "identical" },
  { name: "rename/update: the client renamed a file the server edited", view: server(edit("c:2", { hash: "h3" })), record: rename("c:2", "f", "root", "g"), want: "rename/update" },
  { name: "rename/delete: the client renamed a file the server deleted", view: server(drop("c:2")), record: rename("c:2", "f", "root", "g"), want: "rename/delete" },
  { name: "a rename into a directory the server deleted", view: server(drop("c:1")), record: rename("c:2", "f", "c:1", "f"), want: "create/delete-parent" },
  { name: "a create in a directory the server deleted", view: server(drop("c:1")), record: create("new", "h2", "c:1"), want: "create/delete-parent" },
  { name: "a rename onto a name the server took", view: server(add(obj("aa:5", "f", "root", "g", { hash: "h7" }))), record: rename("c:2", "f", "root", "g"), want: "create/create" },
  { name: "directory delete against a create inside it", view: server(add(obj("aa:5", "f", "c:1", "new"))), record: rec({ op: "rmdir", fid: "c:1", parent: "root", name: "d", base: V1, ...T }), want: "delete/create-inside" },
  { name: "an empty directory's delete applies", view: server(), record: rec({ op: "rmdir", fid: "c:1", parent: "root", name: "d", base: V1, ...T }), want: "apply" },
  { name: "attr/update: attributes against a content change", view: server(edit("c:2", { hash: "h3" })), record: rec({ op: "setattr", fid: "c:2", base: V1, attrs: { mode: 0o600 }, ...T }), want: "attr/update" },
  { name: "the same attributes on both sides are identical", view: server(edit("c:2", { mode: 0o600 })), record: rec({ op: "setattr", fid: "c:2", base: V1, attrs: { mode: 0o600 }, ...T }), want: "identical" },
  { name: "a directory's attributes never conflict (per-name checks)", view: server(edit("c:1", { mtimeNs: "99" })), record: rec({ op: "setattr", fid: "c:1", base: V1, attrs: { mode: 0o700 }, ...T }), want: "apply" },
  { name: "unrelated creates in one directory do not conflict", view: server(add(obj("aa:5", "f", "c:1", "theirs"))), record: create("mine", "h2", "c:1"), want: "apply" },
];

describe("decide: the conflict matrix", () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const d = decide(row.view, row.record);
      assert.equal(d.kind === "conflict" ? d.conflict : d.kind, row.want, JSON.stringify(d));
    });
  }
});

function kase(kind: ConflictCase["kind"], record: JournalRecord, server?: FsObject, local?: FsObject): ConflictCase {
  return { kind, record, server, local };
}

describe("the policy pass", () => {
  const uu = (clientMtime: string, serverMtime: string): ConflictCase =>
    kase("update/update", rec({ op: "close", fid: "c:2", base: V1, content: { size: 1, mtimeNs: clientMtime, hash: "h2" }, ...T }), obj("c:2", "f", "root", "f", { mtimeNs: serverMtime }));
  const rows: Array<[string, ConflictCase, Policy, string, boolean]> = [
    ["server keeps the server's", uu("5", "1"), "server", "server", false],
    ["client keeps the client's", uu("1", "5"), "client", "client", false],
    ["newer picks the later mtime (client)", uu("5", "1"), "newer", "client", false],
    ["newer picks the later mtime (server)", uu("1", "5"), "newer", "server", false],
    ["newer ties go to the server", uu("3", "3"), "newer", "server", false],
    ["newer keeps an edit against a deletion", kase("update/delete", close("h2")), "newer", "client", false],
    ["newer keeps the server's edit against a client deletion", kase("delete/update", rec({ op: "unlink", fid: "c:2", parent: "root", name: "f", base: V1, time: 9e12 }), obj("c:2", "f", "root", "f")), "newer", "server", false],
    ["both keeps both", uu("1", "5"), "both", "both", false],
    ["manual shows the server's and parks the client's", uu("1", "5"), "manual", "server", true],
  ];
  for (const [name, c, policy, winner, parked] of rows) {
    it(name, () => {
      const r = resolveConflict(c, policy);
      assert.deepEqual([r.policy, r.winner, r.parked], [policy, winner, parked]);
    });
  }

  it("--policy values: a name sets the default, GLOB=NAME overrides, the last match wins", () => {
    const rules = parseRules(["newer", "*.log=client", "logs/keep.log=server"], { default: "both", overrides: [{ glob: "*.tmp", policy: "server" }] });
    assert.equal(policyFor(rules, "index.html"), "newer");
    assert.equal(policyFor(rules, "a/b/app.log"), "client");
    assert.equal(policyFor(rules, "logs/keep.log"), "server");
    assert.equal(policyFor(rules, "x.tmp"), "server");
    assert.throws(() => parseRules(["loudest"], rules), { code: "USAGE" });
    assert.throws(() => parseRules(["=server"], rules), { code: "USAGE" });
  });
});

describe("plans: how each winner is carried out", () => {
  const file = obj("c:2", "f", "root", "f", { hash: "h3" });
  const local = obj("c:2", "f", "root", "f", { hash: "h2" });
  const dir = obj("aa:5", "d", "root", "n");
  const rows: Array<[string, ConflictCase, Policy, string, string]> = [
    ["update/update, server: drop ours, bring theirs", kase("update/update", close("h2"), file, local), "server", "server", "drop c:2, restore c:2"],
    ["update/update, client: rebase and ship again", kase("update/update", close("h2"), file, local), "client", "client", "rebase 7, restore c:2"],
    ["update/update, both: ours aside, theirs at the name", kase("update/update", close("h2"), file, local), "both", "both", "aside c:2, restore c:2"],
    ["update/delete, client: create it again", kase("update/delete", close("h2"), undefined, local), "client", "client", "revive c:2"],
    ["update/delete, server: remove ours", kase("update/delete", close("h2"), undefined, local), "server", "server", "drop c:2, discard c:2"],
    ["delete/update, both: the edit stays", kase("delete/update", rec({ op: "unlink", fid: "c:2", parent: "root", name: "f", base: V1, ...T }), file), "both", "server", "drop c:2, restore c:2"],
    ["create/create, client: evict theirs", kase("create/create", create("n", "h2"), obj("aa:5", "f", "root", "n")), "client", "client", "evict 7, restore aa:5"],
    ["type-change, client against a directory: keep both", kase("type-change", create("n", "h2"), dir), "client", "both", "aside bb:9, restore aa:5"],
    ["type-change, server against our directory: keep both", kase("type-change", mkdir("n"), obj("aa:5", "f", "root", "n"), obj("bb:9", "d", "root", "n")), "server", "both", "aside bb:9, restore aa:5"],
    ["delete/create-inside, client: the server's entries stay", kase("delete/create-inside", rec({ op: "rmdir", fid: "c:1", parent: "root", name: "d", base: V1, ...T }), obj("c:1", "d", "root", "d")), "client", "server", "drop c:1, restore c:1"],
    ["create/delete-parent, client: the directory comes back", kase("create/delete-parent", create("new", "h2", "c:1")), "client", "client", "revive c:1"],
    ["rename/cycle, client: the holder's move stands", kase("rename/cycle", rename("c:1", "d", "c:4", "d2"), obj("c:4", "d", "c:1", "e")), "client", "server", "drop c:1, restore c:1"],
    ["rename/rename, both: the holder's name", kase("rename/rename", rename("c:2", "f", "root", "g"), file, local), "both", "server", "drop c:2, restore c:2"],
    ["rename/update, both: a merge", kase("rename/update", rename("c:2", "f", "root", "g"), file, local), "both", "client", "rebase 7, restore c:2"],
  ];
  for (const [name, c, policy, winner, actions] of rows) {
    it(name, () => {
      const res = resolveConflict(c, policy);
      assert.equal(effectiveWinner(c, res), winner);
      const plan = planResolution(c, res).map((a) => `${a.do} ${"fid" in a ? a.fid : a.seq}`);
      assert.equal(plan.join(", "), actions);
    });
  }

  it("conflict copies are named beside the winner, keeping the extension", () => {
    const when = new Date("2026-11-30T09:15:02.123Z");
    assert.equal(conflictName("index.html", "0123456789abcdef", when), "index.conflict-01234567-20261130T091502Z.html");
    assert.equal(conflictName("Makefile", "ab", when), "Makefile.conflict-ab-20261130T091502Z");
    assert.equal(conflictName(".bashrc", "ab", when), ".bashrc.conflict-ab-20261130T091502Z");
  });
});
