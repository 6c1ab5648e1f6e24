/**
 * CML optimisation: named rule cases with the expected output spelled out, and fast-check properties
 * on random operation sequences: replaying the optimised CML gives the same tree as the raw one (links
 * sharing one inode, as the Applier replays them), every content record left names content the final
 * tree still has (the replica must send it), optimising is idempotent and never grows the list, and deliberately broken
 * optimisers are caught by the same property. Optimising and shipping in windows (reintegration reads
 * the CML a window at a time) gives the whole CML's tree and ships only content the replica has.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { optimiseWindow } from "../../src/journal/cml-window.js";
import { optimise } from "../../src/journal/optimise.js";
import { parseRecord, ROOT_FID, type Attrs, type Content, type JournalRecord } from "../../src/journal/records.js";
import { applyRecords, emptyTree, Model, ModelError, Recorder, snapshot, type LinkMode, type Tree } from "./tree-model.js";

const SEED = 20261124;
const RUNS = 300;

// ---------------------------------------------------------------- record builders for the tables

const V = "5e:7"; // base version of a pre-existing object
const P = "a0:1"; // pre-existing file
const Q = "a0:2"; // another pre-existing file
const R = "a0:3"; // pre-existing directory
const [X, Y, Z, D] = ["c1:1", "c1:2", "c1:3", "c1:4"];
const c1: Content = { size: 1, mtimeNs: "100", hash: "aa" };
const c2: Content = { size: 2, mtimeNs: "200", hash: "bb" };
const EXT = { baseHash: "aa", ranges: [[1, 1]] as Array<[number, number]> };

const stamp = (seq: number) => ({ seq, origin: "c1", originSeq: seq, time: 1000 + seq });
const at = (parent: string, name: string) => ({ parent, name });
const create = (seq: number, fid: string, name: string, more: { attrs?: Attrs; content?: Content; parent?: string } = {}): JournalRecord => ({
  op: "create", ...stamp(seq), fid, parent: more.parent ?? ROOT_FID, name, attrs: more.attrs ?? {}, ...(more.content ? { content: more.content } : {}),
});
const mkdir = (seq: number, fid: string, name: string, attrs: Attrs = {}, parent = ROOT_FID): JournalRecord => ({ op: "mkdir", ...stamp(seq), fid, ...at(parent, name), attrs });
const link = (seq: number, fid: string, name: string, target: string): JournalRecord => ({ op: "link", ...stamp(seq), fid, ...at(ROOT_FID, name), target, targetBase: V });
const unlink = (seq: number, fid: string, name: string, base = "", parent = ROOT_FID): JournalRecord => ({ op: "unlink", ...stamp(seq), fid, ...at(parent, name), base });
const rmdir = (seq: number, fid: string, name: string, base = ""): JournalRecord => ({ op: "rmdir", ...stamp(seq), fid, ...at(ROOT_FID, name), base });
const rename = (seq: number, fid: string, from: [string, string], to: [string, string], more: { base?: string; replaced?: string } = {}): JournalRecord => ({
  op: "rename", ...stamp(seq), fid, parent: from[0], name: from[1], newParent: to[0], newName: to[1], base: more.base ?? "",
  ...(more.replaced !== undefined ? { replaced: more.replaced, replacedBase: V } : {}),
});
const setattr = (seq: number, fid: string, attrs: Attrs, base = ""): JournalRecord => ({ op: "setattr", ...stamp(seq), fid, base, attrs });
const close = (seq: number, fid: string, content: Content, base = ""): JournalRecord => ({ op: "close", ...stamp(seq), fid, base, content });

interface Case {
  name: string;
  input: JournalRecord[];
  expected: JournalRecord[];
  dropped: number[];
}

const CASES: Case[] = [
  // cancel create/delete
  { name: "create … unlink drops every record about the file", dropped: [1, 2, 3, 4, 5],
    input: [create(1, X, "x"), close(2, X, c1), setattr(3, X, { mode: 0o600 }), rename(4, X, [ROOT_FID, "x"], [ROOT_FID, "y"]), unlink(5, X, "y")], expected: [] },
  { name: "mkdir … rmdir with a child created and deleted inside cancels both", dropped: [1, 2, 3, 4],
    input: [mkdir(1, D, "d"), create(2, X, "x", { parent: D }), unlink(3, X, "x", "", D), rmdir(4, D, "d")], expected: [] },
  { name: "a new directory a child was moved out of is kept", dropped: [],
    input: [mkdir(1, D, "d"), create(2, X, "x", { parent: D }), rename(3, X, [D, "x"], [ROOT_FID, "x"]), rmdir(4, D, "d")],
    expected: [mkdir(1, D, "d"), create(2, X, "x", { parent: D }), rename(3, X, [D, "x"], [ROOT_FID, "x"]), rmdir(4, D, "d")] },
  { name: "a new file that is a surviving link's target is kept", dropped: [],
    input: [create(1, X, "x"), link(2, Y, "y", X), unlink(3, X, "x")], expected: [create(1, X, "x"), link(2, Y, "y", X), unlink(3, X, "x")] },
  { name: "link … unlink of a new name cancels", dropped: [1, 2], input: [link(1, Y, "y", P), unlink(2, Y, "y")], expected: [] },
  { name: "a rename over a cancelled file forgets it replaced it", dropped: [1],
    input: [create(1, X, "a"), create(2, Y, "b"), rename(3, Y, [ROOT_FID, "b"], [ROOT_FID, "a"], { replaced: X })],
    expected: [create(2, Y, "b"), rename(3, Y, [ROOT_FID, "b"], [ROOT_FID, "a"])] },
  { name: "a new file whose rename replaced a surviving file is kept", dropped: [],
    input: [create(1, X, "t"), rename(2, X, [ROOT_FID, "t"], [ROOT_FID, "f"], { replaced: P }), unlink(3, X, "f")],
    expected: [create(1, X, "t"), rename(2, X, [ROOT_FID, "t"], [ROOT_FID, "f"], { replaced: P }), unlink(3, X, "f")] },
  // closes
  { name: "repeated closes keep the last", dropped: [1, 2],
    input: [close(1, P, c1, V), close(2, P, c2, V), close(3, P, c1, V)], expected: [close(3, P, c1, V)] },
  { name: "the last close keeps its written extents when every close had its base", dropped: [1],
    input: [close(1, P, c1, V), { ...close(2, P, c2, V), extents: EXT } as JournalRecord], expected: [{ ...close(2, P, c2, V), extents: EXT } as JournalRecord] },
  { name: "written extents counted from another base go", dropped: [1],
    input: [close(1, P, c1, V), { ...close(2, P, c2, "5e:8"), extents: EXT } as JournalRecord], expected: [close(2, P, c2, V)] },
  { name: "closes fold into the create, which keeps its place and takes the last seq", dropped: [1, 2],
    input: [create(1, X, "x"), close(2, X, c1), rename(3, X, [ROOT_FID, "x"], [ROOT_FID, "y"]), close(4, X, c2)],
    expected: [create(4, X, "x", { content: c2 }), rename(3, X, [ROOT_FID, "x"], [ROOT_FID, "y"])] },
  { name: "a setattr's mtime before a close is dead; the close then folds", dropped: [1, 2],
    input: [create(1, X, "x"), setattr(2, X, { mtimeNs: "5" }), close(3, X, c1)], expected: [create(3, X, "x", { content: c1 })] },
  { name: "a setattr's mtime after the content stays a setattr", dropped: [1],
    input: [create(1, X, "x"), close(2, X, c1), setattr(3, X, { mtimeNs: "5" })], expected: [create(2, X, "x", { content: c1 }), setattr(3, X, { mtimeNs: "5" })] },
  { name: "content is per inode: of a linked file's closes only the last stays", dropped: [1],
    input: [close(1, P, c1, V), link(2, Y, "y", P), close(3, P, c2, V)], expected: [link(2, Y, "y", P), close(3, P, c2, V)] },
  { name: "a new file renamed over a ref and then renamed over itself ships no content it no longer has", dropped: [],
    input: [create(1, X, "t", { content: c1 }), rename(2, X, [ROOT_FID, "t"], [ROOT_FID, "f"], { replaced: P }), create(3, Y, "t", { content: c2 }),
      rename(4, Y, [ROOT_FID, "t"], [ROOT_FID, "f"], { replaced: X })],
    expected: [create(1, X, "t"), rename(2, X, [ROOT_FID, "t"], [ROOT_FID, "f"], { replaced: P }), create(3, Y, "t", { content: c2 }),
      rename(4, Y, [ROOT_FID, "t"], [ROOT_FID, "f"], { replaced: X })] },
  { name: "git's loose object: the temp's content stays, found at the linked name", dropped: [],
    input: [create(1, X, "t", { content: c1 }), link(2, Y, "y", X), unlink(3, X, "t")], expected: [create(1, X, "t", { content: c1 }), link(2, Y, "y", X), unlink(3, X, "t")] },
  // setattrs
  { name: "setattrs fold at the last one's place, later fields win", dropped: [1],
    input: [setattr(1, P, { mode: 0o600 }, V), close(2, Q, c1, V), setattr(3, P, { mode: 0o644, uid: 5 }, V)],
    expected: [close(2, Q, c1, V), setattr(3, P, { mode: 0o644, uid: 5 }, V)] },
  { name: "a folded setattr loses an mtime a later close overwrote", dropped: [1],
    input: [setattr(1, P, { mode: 0o600, mtimeNs: "5" }, V), close(2, P, c1, V), setattr(3, P, { uid: 1 }, V)],
    expected: [close(2, P, c1, V), setattr(3, P, { mode: 0o600, uid: 1 }, V)] },
  { name: "a setattr folds into its mkdir", dropped: [1],
    input: [mkdir(1, D, "d", { mode: 0o755 }), create(2, X, "x", { parent: D }), setattr(3, D, { mode: 0o700, mtimeNs: "9" })],
    expected: [mkdir(3, D, "d", { mode: 0o700, mtimeNs: "9" }), create(2, X, "x", { parent: D })] },
  { name: "a setattr folds into a create without content, mtime included", dropped: [1],
    input: [create(1, X, "x", { attrs: { mode: 0o644, mtimeNs: "1" } }), setattr(2, X, { mtimeNs: "9", gid: 3 })],
    expected: [create(2, X, "x", { attrs: { mode: 0o644, gid: 3, mtimeNs: "9" } })] },
  // deleted pre-existing objects
  { name: "closes and setattrs of a deleted pre-existing file go; renames and the unlink stay", dropped: [1, 2],
    input: [close(1, P, c1, V), setattr(2, P, { mode: 0o600 }, V), rename(3, P, [ROOT_FID, "p"], [R, "p"], { base: V }), unlink(4, P, "p", V, R)],
    expected: [rename(3, P, [ROOT_FID, "p"], [R, "p"], { base: V }), unlink(4, P, "p", V, R)] },
  // renames
  { name: "adjacent renames fold: first source and base, last destination", dropped: [1],
    input: [rename(1, P, [ROOT_FID, "a"], [ROOT_FID, "b"], { base: V }), rename(2, P, [ROOT_FID, "b"], [R, "c"], { base: V, replaced: Q })],
    expected: [rename(2, P, [ROOT_FID, "a"], [R, "c"], { base: V, replaced: Q })] },
  { name: "renames back to the start vanish", dropped: [1, 2],
    input: [rename(1, P, [ROOT_FID, "a"], [ROOT_FID, "b"]), rename(2, P, [ROOT_FID, "b"], [ROOT_FID, "a"])], expected: [] },
  { name: "renames with a record between stay", dropped: [],
    input: [rename(1, P, [ROOT_FID, "a"], [ROOT_FID, "b"]), close(2, Q, c1), rename(3, P, [ROOT_FID, "b"], [ROOT_FID, "c"])],
    expected: [rename(1, P, [ROOT_FID, "a"], [ROOT_FID, "b"]), close(2, Q, c1), rename(3, P, [ROOT_FID, "b"], [ROOT_FID, "c"])] },
  { name: "a rename that replaced something does not fold", dropped: [],
    input: [rename(1, P, [ROOT_FID, "a"], [ROOT_FID, "b"], { replaced: Q }), rename(2, P, [ROOT_FID, "b"], [ROOT_FID, "c"])],
    expected: [rename(1, P, [ROOT_FID, "a"], [ROOT_FID, "b"], { replaced: Q }), rename(2, P, [ROOT_FID, "b"], [ROOT_FID, "c"])] },
  { name: "no fold when the second rename replaces the directory the first left", dropped: [],
    input: [rename(1, D, [Z, "d"], [ROOT_FID, "t"]), rename(2, D, [ROOT_FID, "t"], [ROOT_FID, "z"], { replaced: Z })],
    expected: [rename(1, D, [Z, "d"], [ROOT_FID, "t"]), rename(2, D, [ROOT_FID, "t"], [ROOT_FID, "z"], { replaced: Z })] },
  // combined
  { name: "editor save: old renamed away, new created at the name, old deleted", dropped: [2],
    input: [rename(1, P, [ROOT_FID, "f"], [ROOT_FID, "f~"], { base: V }), create(2, X, "f"), close(3, X, c1), unlink(4, P, "f~", V)],
    expected: [rename(1, P, [ROOT_FID, "f"], [ROOT_FID, "f~"], { base: V }), create(3, X, "f", { content: c1 }), unlink(4, P, "f~", V)] },
  { name: "births only (a first copy's window): left as they are", dropped: [],
    input: [mkdir(1, D, "d", { mode: 0o755 }), create(2, X, "x", { parent: D, content: c1 }), create(3, Q, "q", { content: c1 }), mkdir(4, Z, "z")],
    expected: [mkdir(1, D, "d", { mode: 0o755 }), create(2, X, "x", { parent: D, content: c1 }), create(3, Q, "q", { content: c1 }), mkdir(4, Z, "z")] },
  { name: "nothing to do leaves the list alone", dropped: [],
    input: [create(1, X, "x", { content: c1 }), mkdir(2, Z, "z"), setattr(3, P, { mode: 0o600 }, V)],
    expected: [create(1, X, "x", { content: c1 }), mkdir(2, Z, "z"), setattr(3, P, { mode: 0o600 }, V)] },
];

describe("optimise: rules", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const out = optimise(c.input);
      assert.deepStrictEqual(out, { records: c.expected, dropped: c.dropped });
      assert.deepStrictEqual(optimise(out.records), { records: c.expected, dropped: [] }, "idempotent");
    });
  }
  it("does not modify its input", () => {
    const input = [create(1, X, "x"), close(2, X, c1), setattr(3, X, { mode: 1 })];
    const copy = structuredClone(input);
    optimise(input);
    assert.deepStrictEqual(input, copy);
  });
});

describe("tree model (the oracle)", () => {
  const refuses: [string, JournalRecord[]][] = [
    ["a name already taken", [create(1, X, "x"), create(2, Y, "x")]],
    ["an unknown parent", [create(1, X, "x", { parent: D })]],
    ["a reused fid", [create(1, X, "x"), unlink(2, X, "x"), create(3, X, "y")]],
    ["an unlink at the wrong place", [create(1, X, "x"), unlink(2, X, "y")]],
    ["rmdir of a non-empty directory", [mkdir(1, D, "d"), create(2, X, "x", { parent: D }), rmdir(3, D, "d")]],
    ["a directory moved into itself", [mkdir(1, D, "d"), mkdir(2, Z, "z", {}, D), rename(3, D, [ROOT_FID, "d"], [Z, "d"])]],
    ["a rename over a name without saying so", [create(1, X, "x"), create(2, Y, "y"), rename(3, Y, [ROOT_FID, "y"], [ROOT_FID, "x"])]],
  ];
  for (const [name, records] of refuses) it(`refuses ${name}`, () => assert.throws(() => applyRecords(emptyTree(), records), ModelError));

  it("a create's content mtime wins over its attrs; a link copies or shares by mode", () => {
    const recs = [create(1, X, "x", { attrs: { mtimeNs: "1" }, content: c1 }), link(2, Y, "y", X), close(3, X, c2)];
    const meta = (mode: LinkMode) => snapshot(applyRecords(emptyTree(), recs, mode)).map((e) => [e.path, e.mtimeNs, e.hash]);
    assert.deepStrictEqual(meta("copy"), [["", "0", ""], ["/x", "200", "bb"], ["/y", "100", "aa"]]);
    assert.deepStrictEqual(meta("shared"), [["", "0", ""], ["/x", "200", "bb"], ["/y", "200", "bb"]]);
  });
});

// ---------------------------------------------------------------- random operation sequences

const NAMES = ["a", "b", "c", "d"];
const OPS = ["create", "mkdir", "symlink", "link", "unlink", "rmdir", "rmrf", "rename", "setattr", "close",
  "edits", "createDelete", "editorSave", "atomicSave", "viaNewDir"] as const;
type Intent = { op: (typeof OPS)[number]; a: number; b: number; c: number; d: number };

const intentOf = (ops: readonly Intent["op"][]): fc.Arbitrary<Intent> =>
  fc.record({ op: fc.constantFrom(...ops), a: fc.nat(50), b: fc.nat(50), c: fc.nat(50), d: fc.nat(50) });
const intent = intentOf(OPS);
/** The initial tree is built by creations only (no server versions to delete yet). */
const setupIntent = intentOf(["create", "create", "mkdir", "mkdir", "symlink", "link"]);

/** Turns intents into records through a {@link Recorder}; intents that do not fit the tree are skipped. */
class Actor {
  private clock = 0;
  constructor(private readonly r: Recorder) {}

  private get m(): Model {
    return this.r.model;
  }
  private pick<T>(xs: readonly T[], i: number): T | undefined {
    return xs.length === 0 ? undefined : xs[i % xs.length];
  }
  private objects(type?: "f" | "d" | "nd"): string[] {
    return [...this.m.nodes.values()]
      .filter((n) => n.fid !== ROOT_FID && (type === undefined || (type === "nd" ? n.type !== "d" : n.type === type)))
      .map((n) => n.fid);
  }
  private dirs(): string[] {
    return [ROOT_FID, ...this.objects("d")];
  }
  private freeName(dir: string, i: number, prefix = ""): string | undefined {
    for (let k = 0; k < NAMES.length; k++) {
      const name = prefix + NAMES[(i + k) % NAMES.length];
      if (!this.m.child(dir, name)) return name;
    }
    return undefined;
  }
  private content(k: number): Content {
    return { size: k % 4, mtimeNs: String(++this.clock), hash: ["", "aa", "bb", "cc"][k % 4]! };
  }
  private attrs(k: number): Attrs {
    const a: Attrs = {};
    if (k & 1) a.mode = [0o600, 0o644, 0o755][k % 3];
    if (k & 2) a.uid = k % 2;
    if (k & 4) a.gid = k % 3;
    if (k & 8 || k % 5 === 0) a.mtimeNs = String(++this.clock);
    return a;
  }
  private place(parent: string, name: string) {
    return { fid: this.r.newFid(), time: this.clock, parent, name };
  }

  run(t: Intent): void {
    const { a, b, c, d } = t;
    const dir = this.pick(this.dirs(), b)!;
    switch (t.op) {
      case "create": return void this.create(dir, this.freeName(dir, c), a % 3 === 0 ? undefined : a, c);
      case "mkdir": { const name = this.freeName(dir, c); if (name) this.r.emit({ op: "mkdir", ...this.place(dir, name), attrs: this.attrs(a) }); return; }
      case "symlink": { const name = this.freeName(dir, c); if (name) this.r.emit({ op: "symlink", ...this.place(dir, name), target: `t${a}`, attrs: this.attrs(d) }); return; }
      case "link": {
        const target = this.pick(this.objects("f"), a), name = this.freeName(dir, c);
        if (target && name) this.r.emit({ op: "link", ...this.place(dir, name), target, targetBase: this.r.base(target) });
        return;
      }
      case "unlink": { const f = this.pick(this.objects("nd"), a); if (f) this.remove(f); return; }
      case "rmdir": { const f = this.pick(this.objects("d").filter((x) => this.m.children(x).length === 0), a); if (f) this.remove(f); return; }
      case "rmrf": { const f = this.pick(this.objects("d"), a); if (f) this.remove(f); return; }
      case "rename": { const f = this.pick(this.objects(), a); if (f) this.move(f, b, NAMES[c % NAMES.length]!); return; }
      case "setattr": { const f = this.pick([ROOT_FID, ...this.objects()], a); if (f) this.setattr(f, c); return; }
      case "close": { const f = this.pick(this.objects("f"), a); if (f) this.close(f, c); return; }
      case "edits": {
        const f = this.pick(this.objects("f"), a);
        for (let k = 0; f && k < 2 + (c % 3); k++) {
          if ((k + d) % 3 === 1) this.setattr(f, c + k);
          else this.close(f, d + k);
        }
        return;
      }
      case "createDelete": {
        const f = this.create(dir, this.freeName(dir, c), a % 2 ? a : undefined, c);
        if (f && d % 2) this.close(f, d);
        if (f && d % 3) this.setattr(f, d);
        if (f) this.remove(f);
        return;
      }
      case "editorSave": {
        const f = this.pick(this.objects("f"), a);
        if (!f) return;
        const { parent, name } = this.m.nodes.get(f)!;
        if (!this.moveTo(f, parent!, `${name}~`)) return;
        const n = this.create(parent!, name, undefined, c);
        if (n) this.close(n, d);
        if (c % 2) this.remove(f);
        return;
      }
      case "atomicSave": {
        const f = this.pick(this.objects("f"), a);
        if (!f) return;
        const { parent, name } = this.m.nodes.get(f)!;
        const tmp = this.create(parent!, this.freeName(parent!, c, "."), d % 2 ? d : undefined, c);
        if (tmp && d % 3) this.close(tmp, c + d);
        if (tmp) this.moveTo(tmp, parent!, name);
        return;
      }
      case "viaNewDir": {
        const name = this.freeName(dir, c);
        const f = this.pick(this.objects(), a);
        if (!name || !f) return;
        const nd = this.r.emit({ op: "mkdir", ...this.place(dir, name), attrs: {} }).fid;
        if (!this.moveTo(f, nd, "m")) return;
        if (d % 2) this.setattr(nd, d);
        if (d % 3) this.move(f, b + 1, NAMES[d % NAMES.length]!);
        if (c % 2) this.remove(nd);
        return;
      }
    }
  }

  private create(parent: string, name: string | undefined, withContent: number | undefined, k: number): string | undefined {
    if (name === undefined) return undefined;
    const content = withContent === undefined ? undefined : this.content(withContent);
    return this.r.emit({ op: "create", ...this.place(parent, name), attrs: this.attrs(k | 1), ...(content ? { content } : {}) }).fid;
  }
  private setattr(fid: string, k: number): void {
    this.r.emit({ op: "setattr", fid, time: this.clock, base: this.r.base(fid), attrs: this.attrs(k) });
  }
  private close(fid: string, k: number): void {
    this.r.emit({ op: "close", fid, time: this.clock, base: this.r.base(fid), content: this.content(k) });
  }
  /** Removes an object (a directory with everything under it, deepest first). */
  private remove(fid: string): void {
    const n = this.m.nodes.get(fid)!;
    if (n.type === "d") for (const ch of this.m.children(fid)) this.remove(ch.fid);
    this.r.emit({ op: n.type === "d" ? "rmdir" : "unlink", fid, time: this.clock, parent: n.parent!, name: n.name, base: this.r.base(fid) });
  }
  private move(fid: string, dirIndex: number, name: string): boolean {
    const to = this.pick(this.dirs().filter((x) => !this.m.isWithin(x, fid)), dirIndex);
    return to !== undefined && this.moveTo(fid, to, name);
  }
  /** Renames `fid` to `to/name`, over what is there when that is allowed; false when not possible. */
  private moveTo(fid: string, to: string, name: string): boolean {
    const n = this.m.nodes.get(fid)!;
    const occ = this.m.child(to, name);
    if (occ?.fid === fid || this.m.isWithin(to, fid)) return false;
    if (occ && ((occ.type === "d") !== (n.type === "d") || this.m.children(occ.fid).length > 0)) return false;
    const replaced = occ ? { replaced: occ.fid, replacedBase: this.r.base(occ.fid) } : {};
    this.r.emit({ op: "rename", fid, time: this.clock, parent: n.parent!, name: n.name, newParent: to, newName: name, base: this.r.base(fid), ...replaced });
    return true;
  }
}

interface Scenario {
  initial: Tree;
  raw: JournalRecord[];
}

/** A random small tree (objects with server versions), then a CML of operations on it. */
const scenario: fc.Arbitrary<Scenario> = fc
  .tuple(fc.array(setupIntent, { minLength: 2, maxLength: 12, size: "max" }), fc.array(intent, { minLength: 4, maxLength: 30, size: "max" }))
  .map(([setup, ops]) => {
    const seed = new Recorder(new Model(emptyTree(), "copy"), new Map(), "a0");
    const setupActor = new Actor(seed);
    for (const t of setup) setupActor.run(t);
    const initial = seed.model.tree();
    const versions = new Map([...initial.nodes.keys()].map((fid, i) => [fid, `5e:${i + 1}`]));
    const rec = new Recorder(new Model(initial, "copy"), versions, "c1", 100);
    const actor = new Actor(rec);
    for (const t of ops) actor.run(t);
    return { initial, raw: rec.records };
  });

type Optimiser = (records: JournalRecord[]) => { records: JournalRecord[] };

/** The replay property: the optimised list gives the same tree as the raw one, under `mode`. */
function sameTree(opt: Optimiser, mode: LinkMode) {
  return fc.property(scenario, ({ initial, raw }) => {
    const expected = snapshot(applyRecords(initial, raw, mode));
    assert.deepStrictEqual(snapshot(applyRecords(initial, opt(raw).records, mode)), expected);
  });
}

describe("optimise: properties", () => {
  it("replaying the optimised CML gives the raw CML's tree (links share one inode)", () => {
    fc.assert(sameTree(optimise, "shared"), { numRuns: RUNS, seed: SEED });
  });

  it("every content record left names content the replica still has: its object's, or another name's", () => {
    fc.assert(
      fc.property(scenario, ({ initial, raw }) => {
        const final = applyRecords(initial, raw, "shared");
        const rows = snapshot(final);
        const hashes = new Set(rows.filter((e) => e.type === "f").map((e) => e.hash));
        for (const r of optimise(raw).records) {
          const content = r.op === "close" ? r.content : r.op === "create" ? r.content : undefined;
          if (!content) continue;
          const own = rows.find((e) => e.fid === r.fid);
          assert.ok(own ? own.hash === content.hash : hashes.has(content.hash), `${r.op} ${r.fid} (seq ${r.seq}) asks for content ${content.hash} the replica no longer has`);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("is idempotent, never grows the list, reports exactly the dropped seqs, and emits valid records", () => {
    fc.assert(
      fc.property(scenario, ({ raw }) => {
        const out = optimise(raw);
        assert.ok(out.records.length <= raw.length);
        assert.deepStrictEqual(optimise(out.records), { records: out.records, dropped: [] });
        const inSeqs = raw.map((r) => r.seq);
        const outSeqs = out.records.map((r) => r.seq);
        assert.equal(new Set(outSeqs).size, outSeqs.length, "output seqs are distinct");
        assert.ok(outSeqs.every((s) => inSeqs.includes(s)), "output seqs come from the input");
        assert.deepStrictEqual(out.dropped, inSeqs.filter((s) => !outSeqs.includes(s)));
        for (const r of out.records) parseRecord(r);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("actually shortens typical CMLs", () => {
    const samples = fc.sample(scenario, { numRuns: 200, seed: SEED });
    const before = samples.reduce((n, s) => n + s.raw.length, 0);
    const after = samples.reduce((n, s) => n + optimise(s.raw).records.length, 0);
    assert.ok(after < 0.8 * before, `optimised ${after} of ${before} records`);
  });
});

// ---------------------------------------------------------------- windows

/** `raw` cut into consecutive windows of the given sizes (cycled). */
function windowsOf(raw: readonly JournalRecord[], sizes: readonly number[]): JournalRecord[][] {
  const out: JournalRecord[][] = [];
  for (let i = 0, k = 0; i < raw.length; k++) {
    const n = sizes[k % sizes.length]!;
    out.push(raw.slice(i, i + n));
    i += n;
  }
  return out;
}

/** What the replica can send after the raw CML: content some file of the final tree has. */
function shippableIn(final: Tree): (fid: string, c: Content) => boolean {
  const hashes = new Set(snapshot(final).filter((e) => e.type === "f").map((e) => e.hash));
  return (_fid, c) => hashes.has(c.hash);
}

/** Every window optimised on its own, content the replica no longer has dropped, shipped one after the other. */
function windowed(initial: Tree, raw: readonly JournalRecord[], sizes: readonly number[]): { records: JournalRecord[]; dropped: number[] } {
  const shippable = shippableIn(applyRecords(initial, raw, "shared"));
  const linked = new Set<string>();
  const parts = windowsOf(raw, sizes).map((w) => optimiseWindow(w, shippable, linked));
  return { records: parts.flatMap((p) => p.records), dropped: parts.flatMap((p) => p.dropped) };
}

const windowScenario = fc.tuple(scenario, fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 8 }));

describe("optimise: in windows", () => {
  it("shipping the CML window by window gives the whole CML's tree, and every record is shipped or dropped once", () => {
    fc.assert(
      fc.property(windowScenario, ([{ initial, raw }, sizes]) => {
        const expected = snapshot(applyRecords(initial, raw, "shared"));
        const out = windowed(initial, raw, sizes);
        assert.deepStrictEqual(snapshot(applyRecords(initial, out.records, "shared")), expected);
        assert.deepStrictEqual(snapshot(applyRecords(initial, optimise(raw).records, "shared")), expected, "the whole CML, optimised at once");
        const seqs = [...out.records.map((r) => r.seq), ...out.dropped].sort((a, b) => a - b);
        assert.deepStrictEqual(seqs, raw.map((r) => r.seq));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("every content record shipped from a window names content the replica still has", () => {
    fc.assert(
      fc.property(windowScenario, ([{ initial, raw }, sizes]) => {
        const has = shippableIn(applyRecords(initial, raw, "shared"));
        for (const r of windowed(initial, raw, sizes).records) {
          const content = r.op === "close" || r.op === "create" ? r.content : undefined;
          assert.ok(!content || has(r.fid, content), `${r.op} ${r.fid} (seq ${r.seq}) asks for content ${content?.hash} the replica no longer has`);
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it("a window ending between a create and its delete, or inside a rename chain, still gives the raw CML's tree", () => {
    const dir: JournalRecord = { op: "mkdir", fid: D, ...at(ROOT_FID, "d"), attrs: { mode: 0o755 }, ...stamp(1) };
    const made: JournalRecord = { op: "create", fid: X, ...at(D, "x"), attrs: { mode: 0o644 }, content: c1, ...stamp(2) };
    const moved: JournalRecord = { op: "rename", fid: X, parent: D, name: "x", newParent: ROOT_FID, newName: "y", base: "", ...stamp(3) };
    const again: JournalRecord = { op: "rename", fid: X, parent: ROOT_FID, name: "y", newParent: D, newName: "z", base: "", ...stamp(4) };
    const gone: JournalRecord = { op: "unlink", fid: X, ...at(D, "z"), base: "", ...stamp(5) };
    const kept: JournalRecord = { op: "create", fid: Y, ...at(D, "k"), attrs: { mode: 0o644 }, content: c2, ...stamp(6) };
    const raw = [dir, made, moved, again, gone, kept];
    const expected = snapshot(applyRecords(emptyTree(), raw, "shared"));
    for (const sizes of [[1], [2], [3], [2, 3], [4, 2]]) {
      const out = windowed(emptyTree(), raw, sizes);
      assert.deepStrictEqual(snapshot(applyRecords(emptyTree(), out.records, "shared")), expected, `windows of ${sizes.join(", ")}`);
      // x's content (c1) is gone at the end: no window asks for it
      assert.ok(!out.records.some((r) => r.op === "create" && r.fid === X && r.content !== undefined), `windows of ${sizes.join(", ")}`);
    }
    // in one window the pair cancels outright
    assert.deepStrictEqual(windowed(emptyTree(), raw, [6]).records.map((r) => r.fid), [D, Y]);
  });
});

// ---------------------------------------------------------------- the property catches broken optimisers

/** Cancels every create…delete pair, ignoring surviving references. */
const naiveCancel: Optimiser = (records) => {
  const born = new Set(records.filter((r) => ["create", "mkdir", "symlink", "link"].includes(r.op)).map((r) => r.fid));
  const dead = new Set(records.filter((r) => r.op === "unlink" || r.op === "rmdir").map((r) => r.fid));
  return { records: records.filter((r) => !(born.has(r.fid) && dead.has(r.fid))) };
};

/** Keeps only the first close of every file (content is the last close's). */
const firstCloseOnly: Optimiser = (records) => {
  const first = new Map(records.filter((r) => r.op === "close").reverse().map((r) => [r.fid, r.seq]));
  return { records: records.filter((r) => r.op !== "close" || first.get(r.fid) === r.seq) };
};

/** Folds adjacent renames of one object even when the first replaced something. */
const foldOverReplaced: Optimiser = (records) => {
  const out: JournalRecord[] = [];
  for (const r of records) {
    const top = out[out.length - 1];
    if (top?.op === "rename" && r.op === "rename" && top.fid === r.fid) out[out.length - 1] = { ...r, parent: top.parent, name: top.name };
    else out.push(r);
  }
  return { records: out };
};

describe("optimise: the replay property can fail", () => {
  const mutants: [string, Optimiser, LinkMode][] = [
    ["cancel ignoring a child moved out", naiveCancel, "shared"],
    ["the first close instead of the last", firstCloseOnly, "shared"],
    ["rename fold over a replaced object", foldOverReplaced, "shared"],
  ];
  for (const [name, mutant, mode] of mutants) {
    it(`catches: ${name}`, () => {
      const result = fc.check(sameTree(mutant, mode), { numRuns: RUNS, seed: SEED });
      assert.equal(result.failed, true);
    });
  }
});
