/**
 * The progress line's total (`bytesExpected`, also in `--json`): the content a sync will move, each
 * file once. The replica's own records come back in the holder's log after reintegration; their
 * content is here already and was counted when it was shipped.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { syncJson } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("the progress total", () => {
  it("counts each file's content once: what the replica ships, and what it receives", async () => {
    const a = tempDir("imz-pt-a-");
    const b = tempDir("imz-pt-b-");
    dirs.push(a, b);
    fs.writeFileSync(path.join(a, "big"), Buffer.alloc(3_000_000, 7));
    fs.writeFileSync(path.join(a, "small"), "hi\n");
    const first = await syncJson([a, b]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.json!.bytesSent, 3_000_003);
    assert.equal(first.json!.bytesExpected, 3_000_003);
    fs.writeFileSync(path.join(b, "from-holder"), "x".repeat(5000));
    const second = await syncJson([a, b]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.json!.bytesReceived, 5000);
    assert.equal(second.json!.bytesExpected, 5000);
  });
});
