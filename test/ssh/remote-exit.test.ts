import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ImzError } from "../../src/errors.js";
import { explainRemoteExit } from "../../src/ssh/ssh-exec.js";
import type { RemoteExit } from "../../src/ssh/ssh-exec.js";

const exit = (code: number | null, stderr = "", lost?: ImzError): RemoteExit => ({ code, signal: code === null ? "KILL" : null, stderr, lost });

describe("explainRemoteExit", () => {
  const rows: [string, RemoteExit, string][] = [
    ["exit 127", exit(127, "bash: line 1: intermezzo: command not found\n"), "REMOTE_NOT_FOUND"],
    ["dash", exit(127, "sh: 1: intermezzo: not found\n"), "REMOTE_NOT_FOUND"],
    ["csh exits 1", exit(1, "intermezzo: Command not found.\n"), "REMOTE_NOT_FOUND"],
    ["fish", exit(1, "fish: Unknown command: intermezzo\n"), "REMOTE_NOT_FOUND"],
    ["the program's own 'not found'", exit(2, "intermezzo: file set docs: not found\n"), "REMOTE_ERROR"],
    ["killed", exit(null), "REMOTE_ERROR"],
    ["clean exit without handshake", exit(0), "REMOTE_ERROR"],
    ["lost connection", exit(null, "", new ImzError("CONNECTION_LOST", "gone")), "CONNECTION_LOST"],
  ];
  for (const [name, e, code] of rows) {
    it(`${name} → ${code}`, () => {
      const err = explainRemoteExit(e, "intermezzo serve --stdio /x");
      assert.equal(err.code, code);
      assert.ok(err.hint !== undefined || code === "CONNECTION_LOST");
    });
  }
});
