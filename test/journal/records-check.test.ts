/**
 * parseRecord checks its first records with TypeBox's interpreter and compiles the check after
 * (src/journal/records.ts): both must accept and refuse the same values. This file runs in a process
 * of its own, so its first checks are interpreted; the same corpus is checked again once enough
 * records have gone through for the compiled check to take over.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { parseRecord } from "../../src/journal/records.js";

const common = { seq: 3, origin: "a0", originSeq: 3, time: 1_700_000_000_000, fid: "a0:9" };
const attrs = { mode: 0o644, uid: 1000, gid: 1000, mtimeNs: "1700000000000000000" };
const content = { size: 12, mtimeNs: "1700000000000000000", hash: "ab".repeat(32) };
const VALID: Array<Record<string, unknown>> = [
  { op: "create", ...common, parent: "root", name: "a.txt", attrs, content },
  { op: "mkdir", ...common, parent: "a0:1", name: "d", attrs: { mode: 0o755 } },
  { op: "symlink", ...common, parent: "root", name: "l", target: "../x", attrs: {} },
  { op: "mknod", ...common, parent: "root", name: "p", special: "c:1025", attrs },
  { op: "link", ...common, parent: "root", name: "h", target: "a0:2", targetBase: "a0:7" },
  { op: "unlink", ...common, parent: "root", name: "a.txt", base: "" },
  { op: "rename", ...common, parent: "root", name: "a", newParent: "a0:1", newName: "b", base: "a0:7", replaced: "a0:3", replacedBase: "a0:4" },
  { op: "setattr", ...common, base: "a0:7", attrs: { mode: 0o600 } },
  { op: "close", ...common, base: "a0:7", content, extents: { baseHash: "cd", ranges: [[0, 5]] } },
];

/** Each valid record, and variants of it: each field removed, each replaced by another value, one field too many. */
function corpus(): unknown[] {
  const out: unknown[] = [];
  // a string off its pattern (or just another name), a negative number, an object's place taken by a string
  const wrong = (v: unknown): unknown => (typeof v === "string" ? "X!" : typeof v === "number" ? -1 : "s");
  for (const r of VALID) {
    out.push(r);
    for (const key of Object.keys(r)) {
      const { [key]: _gone, ...without } = r;
      out.push(without);
      out.push({ ...r, [key]: wrong(r[key]) });
    }
    out.push({ ...r, extra: true });
  }
  out.push(null, "close", 42, [], {});
  return out;
}

/** What parseRecord says of each value: "ok", or the RECORD_INVALID message. */
function verdicts(values: unknown[]): string[] {
  return values.map((v) => {
    try {
      parseRecord(v);
      return "ok";
    } catch (err) {
      assert.ok(isImzError(err, "RECORD_INVALID"), String(err));
      return err.message;
    }
  });
}

describe("the record check", () => {
  it("gives the same verdicts interpreted (a process's first records) and compiled (after many)", () => {
    const values = corpus();
    assert.ok(values.length < 256, "the corpus fits in the interpreted checks");
    const first = verdicts(values);
    for (let i = 0; i < 300; i++) parseRecord({ ...VALID[0], seq: i });
    const later = verdicts(values);
    assert.deepEqual(later, first);
    for (const r of VALID) assert.equal(first[values.indexOf(r)], "ok", `${String(r.op)} passes`);
    for (const v of values.slice(-5)) assert.notEqual(first[values.indexOf(v)], "ok");
    assert.ok(first.filter((v) => v !== "ok").length > values.length / 2, "most variants are refused");
  });
});
