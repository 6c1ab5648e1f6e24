/** The carried form of names (`src/journal/names.ts`): lossless, canonical, and checked. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { conflictName } from "../../src/conflict/naming.js";
import { isImzError } from "../../src/errors.js";
import { displayPath, fsPath, nameBytes, nameOf } from "../../src/journal/names.js";
import { checkName } from "../../src/sync/holding.js";

describe("names as bytes", () => {
  it("valid UTF-8 stays a plain string; other bytes round-trip as a raw name", () => {
    for (const s of ["plain", "ünïcödé", "has \uFFFD in it", "e\u0301"]) assert.equal(nameOf(Buffer.from(s)), s);
    for (const b of [Buffer.from("caf\xe9", "latin1"), Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80])]) {
      const n = nameOf(b);
      assert.ok(n.startsWith("\0"), JSON.stringify(n));
      assert.deepEqual(nameBytes(n), b);
      checkName(n);
    }
  });

  it("refuses raw names that are not canonical (another spelling of a name, a slash, bad hex)", () => {
    const spell = (s: string): string => "\0" + Buffer.from(s).toString("hex");
    for (const n of [spell(".intermezzo"), spell(".."), "\0" + Buffer.from([0x2f, 0xff]).toString("hex"), "\0zz", "\0", "\0" + "ff".repeat(256), "\0FF"]) {
      assert.throws(() => checkName(n), (err: unknown) => isImzError(err, "PATH_UNSAFE"), JSON.stringify(n));
    }
  });

  it("builds kernel paths and display paths", () => {
    const raw = nameOf(Buffer.from([0x64, 0xe9]));
    assert.deepEqual(fsPath("/r", `a/${raw}/b`), Buffer.from([...Buffer.from("/r/a/"), 0x64, 0xe9, ...Buffer.from("/b")]));
    assert.equal(fsPath("/r", "a/b"), "/r/a/b");
    assert.equal(displayPath(`a/${raw}`), "a/d\\xe9");
  });

  it("a conflict copy of a raw name keeps its bytes", () => {
    const raw = nameOf(Buffer.from("caf\xe9.txt", "latin1"));
    const copy = conflictName(raw, "abcdef0123", new Date("2026-01-02T03:04:05Z"));
    assert.equal(Buffer.from(nameBytes(copy)).toString("latin1"), "caf\xe9.conflict-abcdef01-20260102T030405Z.txt");
    checkName(copy);
  });
});
