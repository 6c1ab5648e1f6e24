/**
 * Journaled renames: renaming a 200 MiB file or a directory of 10,000 files syncs as one rename
 * record, not as a copy (bytes on the wire under 64 KiB, as `--json` reports them), and the large
 * file itself crosses once, intact.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { syncJson } from "../helpers/cli.js";
import { leftoverTemps, manifest, tempDir, writeLargeFile } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("renames sync as renames", () => {
  it("a 200 MiB file and a 10,000-file directory: first copy intact, renames under 64 KiB on the wire", async () => {
    const a = tempDir("imz-ren-");
    const b = tempDir("imz-ren-");
    dirs.push(a, b);
    writeLargeFile(path.join(a, "big.bin"), 200 << 20, 11);
    fs.mkdirSync(path.join(a, "many"));
    for (let d = 0; d < 100; d++) {
      fs.mkdirSync(path.join(a, "many", `d${d}`));
      for (let f = 0; f < 100; f++) fs.writeFileSync(path.join(a, "many", `d${d}`, `f${f}`), `${d}/${f}`);
    }
    const first = await syncJson([a, b]);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(first.json!.bytesSent >= 200 << 20, "the large file crossed once");
    assert.deepEqual(manifest(b), manifest(a));

    fs.renameSync(path.join(a, "big.bin"), path.join(a, "renamed-big.bin"));
    const fileRename = await syncJson(["--transport", "stdio", a, b]);
    assert.equal(fileRename.code, 0, fileRename.stderr);
    assert.equal(fileRename.json!.recordsShipped, 2, "one rename and the root's mtime");
    assert.equal(fileRename.json!.bytesSent, 0);
    const fileWire = fileRename.json!.wire.sent + fileRename.json!.wire.received;
    assert.ok(fileWire < 64 << 10, `file rename moved ${fileWire} bytes`);
    console.log(`# rename of a 200 MiB file: ${fileWire} bytes on the wire`);

    fs.renameSync(path.join(a, "many"), path.join(a, "moved-many"));
    const dirRename = await syncJson(["--transport", "stdio", a, b]);
    assert.equal(dirRename.code, 0, dirRename.stderr);
    assert.equal(dirRename.json!.bytesSent, 0);
    const dirWire = dirRename.json!.wire.sent + dirRename.json!.wire.received;
    assert.ok(dirWire < 64 << 10, `directory rename moved ${dirWire} bytes`);
    console.log(`# rename of a 10,000-file directory: ${dirWire} bytes on the wire`);

    assert.deepEqual(manifest(b), manifest(a));
    assert.deepEqual(leftoverTemps(a).concat(leftoverTemps(b)), []);
  });
});
