/**
 * The progress line's total (`bytesExpected`, also in `--json`): the content a sync will move, each
 * file once. The replica's own records come back in the holder's log after reintegration; their
 * content is here already and was counted when it was shipped. A file both trees already hold (a
 * first copy onto a tree copied before) is adopted, not moved: it is not counted at all.
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

  it("counts nothing for a file both trees already hold: a first copy adopts it and moves no byte of it", async () => {
    for (const holderIsSrc of [false, true]) {
      const a = tempDir("imz-pt-a-");
      const b = tempDir("imz-pt-b-");
      dirs.push(a, b);
      const same = Buffer.alloc(3_000_000, 9);
      for (const root of [a, b]) fs.writeFileSync(path.join(root, "same"), same);
      fs.writeFileSync(path.join(a, "only-a"), "a".repeat(700));
      fs.writeFileSync(path.join(b, "only-b"), "b".repeat(900));
      const r = await syncJson([...(holderIsSrc ? ["--holder", "src"] : []), a, b]);
      assert.equal(r.code, 0, r.stderr);
      const moved = r.json!.bytesSent + r.json!.bytesReceived;
      assert.equal(moved, 1600, `${holderIsSrc ? "holder src" : "holder dest"}: the two new files`);
      assert.equal(r.json!.bytesExpected, 1600, `${holderIsSrc ? "holder src" : "holder dest"}: bytesExpected`);
    }
  });
});
