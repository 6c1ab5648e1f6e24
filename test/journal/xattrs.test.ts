/**
 * Extended attributes in records (`src/journal/xattrs.ts`): what a record may carry is checked as
 * input from outside (names of the carried namespaces only, base64 values, bounded sets), and the
 * CML optimiser folds them like the other attributes (the last whole set wins).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { isImzError } from "../../src/errors.js";
import { scan } from "../../src/filter/scanner.js";
import { FileSet } from "../../src/journal/fileset.js";
import { tempDir } from "../helpers/tree.js";
import { optimise } from "../../src/journal/optimise.js";
import { parseRecord, type JournalRecord } from "../../src/journal/records.js";
import { parseXattrsText, XATTR_SET_MAX, xattrsText } from "../../src/journal/xattrs.js";
import { PAGE_BYTES, withinBytes } from "../../src/sync/page-bytes.js";

const stamp = (seq: number) => ({ seq, origin: "c1", originSeq: seq, time: 1000 + seq });
const setattr = (seq: number, attrs: object): unknown => ({ op: "setattr", ...stamp(seq), fid: "a0:1", base: "5e:7", attrs });
const invalid = (err: unknown): boolean => isImzError(err) && err.code === "RECORD_INVALID";

describe("extended attributes in records", () => {
  it("accepts user.* and the POSIX ACLs as base64, and refuses anything else", () => {
    parseRecord(setattr(1, { xattrs: { "user.a": "MQ==", "system.posix_acl_access": "AgAAAA==", "system.posix_acl_default": "" } }));
    parseRecord(setattr(1, { xattrs: {} }));
    for (const bad of [
      { "trusted.a": "MQ==" },
      { "security.selinux": "MQ==" },
      { "system.posix_acl_other": "MQ==" },
      { "user.": "MQ==" },
      { "user.a": "not base64!" },
      { "user.a": 1 },
    ]) {
      assert.throws(() => parseRecord(setattr(1, { xattrs: bad })), invalid, JSON.stringify(bad));
    }
  });

  it("bounds a set's size, in a record and from a peer's object", () => {
    const value = Buffer.alloc(XATTR_SET_MAX / 2).toString("base64");
    parseRecord(setattr(1, { xattrs: { "user.a": value } }));
    assert.throws(() => parseRecord(setattr(1, { xattrs: { "user.a": value, "user.b": value, "user.c": value } })), invalid);
    assert.deepEqual(parseXattrsText(xattrsText({ "user.a": "MQ==" })), { "user.a": "MQ==" });
    for (const bad of ["{", "[]", '{"trusted.x":"MQ=="}', JSON.stringify({ "user.a": value, "user.b": value, "user.c": value })]) {
      assert.throws(() => parseXattrsText(bad), invalid, bad.slice(0, 40));
    }
  });

  it("the optimiser folds setattrs keeping the last whole set, and a create absorbs it", () => {
    const a = { "user.a": "MQ==" };
    const b = { "user.b": "Mg==" };
    const folded = optimise([setattr(1, { mode: 0o600, xattrs: a }), setattr(2, { xattrs: b }), setattr(3, { mode: 0o644 })].map((r) => parseRecord(r)));
    assert.deepEqual(folded.records.map((r) => ("attrs" in r ? r.attrs : undefined)), [{ mode: 0o644, xattrs: b }]);
    const create: JournalRecord = { op: "create", ...stamp(1), fid: "c1:1", parent: "root", name: "f", attrs: { mode: 0o644 } };
    const withSet = optimise([create, { op: "setattr", ...stamp(2), fid: "c1:1", base: "", attrs: { xattrs: a } }]);
    assert.deepEqual(withSet.records.map((r) => [r.op, "attrs" in r ? r.attrs : undefined]), [["create", { mode: 0o644, xattrs: a }]]);
    // the same set again is not a change to drop or keep twice
    const same = optimise([setattr(1, { xattrs: { ...a } }), setattr(2, { xattrs: a })].map((r) => parseRecord(r)));
    assert.equal(same.records.length, 1);
  });

  it("pages of records stay within a frame header however large their sets (withinBytes)", () => {
    const big = { xattrs: { "user.a": Buffer.alloc(60_000).toString("base64") } };
    const records = Array.from({ length: 100 }, (_, i) => parseRecord(setattr(i + 1, big)));
    const page = withinBytes(records);
    assert.ok(page.length > 1 && page.length < records.length);
    assert.ok(Buffer.byteLength(JSON.stringify(page)) <= PAGE_BYTES);
    assert.equal(withinBytes([records[0]!], 10).length, 1, "one record always fits");
  });

  it("the scanner journals a new object's set in its create, a change as a setattr of the whole set, nothing when unchanged or with xattrs off", async () => {
    const root = tempDir("imz-xa-scan-");
    const set = FileSet.init(root, { role: "replica" });
    try {
      const f = path.join(root, "f");
      fs.writeFileSync(f, "x");
      execFileSync("setfattr", ["-n", "user.a", "-v", "1", f]);
      const ops = async (opts = {}): Promise<unknown[]> => {
        const n = set.cml.all().length;
        await scan(set, opts);
        return set.cml.all().slice(n).filter((r) => r.fid !== "root").map((r) => [r.op, "attrs" in r ? r.attrs.xattrs : undefined]);
      };
      assert.deepEqual(await ops(), [["create", { "user.a": "MQ==" }]]);
      assert.deepEqual(await ops(), []);
      execFileSync("setfattr", ["-n", "user.b", "-v", "2", f]);
      assert.deepEqual(await ops({ xattrs: false }), [], "--no-xattrs: not compared");
      assert.deepEqual(await ops({ xattrs: false }), []);
      assert.deepEqual(await ops(), [["setattr", { "user.a": "MQ==", "user.b": "Mg==" }]], "the next scan that compares them finds the change");
      const g = path.join(root, "g");
      fs.writeFileSync(g, "y");
      execFileSync("setfattr", ["-n", "user.g", "-v", "1", g]);
      assert.deepEqual(await ops({ xattrs: false }), [["create", undefined]]);
      assert.deepEqual(await ops(), [["setattr", { "user.g": "MQ==" }]], "a new object's too");
      execFileSync("setfattr", ["-x", "user.a", f]);
      assert.deepEqual(await ops(), [["setattr", { "user.b": "Mg==" }]]);
      execFileSync("setfattr", ["-x", "user.b", f]);
      assert.deepEqual(await ops(), [["setattr", {}]], "an emptied set is carried as empty");
    } finally {
      set.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
