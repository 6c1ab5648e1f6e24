import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findAuthorizedKey, parseAuthorizedKeys } from "../../src/ssh/authorized-keys.js";
import { generateEd25519KeyPair } from "../../src/ssh/keygen.js";
import { shellQuote, splitShellWords } from "../../src/ssh/shell-words.js";

describe("shell words", () => {
  it("round-trips quoted words", () => {
    const words = ["intermezzo", "serve", "--stdio", "a b", "it's", "$(x)", "", "/srv/ok-1.2"];
    assert.deepEqual(splitShellWords(words.map(shellQuote).join(" ")), words);
    assert.equal(shellQuote("/srv/ok-1.2"), "/srv/ok-1.2");
  });
  it("refuses what a shell would interpret", () => {
    for (const line of ['a "b"', "a $b", "a `b`", "a;b", "a 'b", "a|b", "a*"]) assert.equal(splitShellWords(line), undefined, line);
  });
});

describe("authorized_keys", () => {
  const a = generateEd25519KeyPair().public;
  const b = generateEd25519KeyPair().public;
  const c = generateEd25519KeyPair().public;
  const wire = (line: string): Buffer => Buffer.from(line.split(" ")[1] as string, "base64");

  it("accepts plain and harmless-option lines, skips unhonourable options", () => {
    const parsed = parseAuthorizedKeys(
      ["# admins", a, `restrict,no-pty ${b}`, `command="echo, \\"hi\\"",no-pty ${c}`, `from="10.0.0.1" ${c}`, "junk"].join("\n"),
    );
    assert.deepEqual(parsed.keys.map((k) => k.line), [2, 3]);
    assert.deepEqual(parsed.skipped.map((s) => s.line), [4, 5, 6]);
    assert.match(parsed.skipped[0]?.reason ?? "", /command/);
    assert.equal(findAuthorizedKey(parsed, wire(a))?.line, 2);
    assert.equal(findAuthorizedKey(parsed, wire(b))?.line, 3);
    assert.equal(findAuthorizedKey(parsed, wire(c)), undefined);
  });
});
