/**
 * Presto's written-extents bookkeeping (`filter/presto-extents.ts`) without a mount: a write in
 * flight during a close counts for that close and the next; a stamped version counts from the last
 * close; content that did not come through the filter makes the extents unknown until the next stamp.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { ExtentsTracker } from "../../src/filter/presto-extents.js";
import { scan } from "../../src/filter/scanner.js";
import { FileSet, inoKey } from "../../src/journal/fileset.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { tempDir } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("ExtentsTracker", () => {
  it("follows closes, stamps and foreign content", async () => {
    const root = tempDir("imz-extents-");
    dirs.push(root);
    const file = path.join(root, "f");
    fs.writeFileSync(file, Buffer.alloc(1000, 1));
    const set = FileSet.init(root, { role: "replica", filesetId: "" });
    const fd = fs.openSync(file, "r+");
    try {
      await scan(set);
      set.transaction(() => set.cml.drop(set.cml.all().map((r) => r.seq))); // as if reintegrated…
      const o0 = set.fsdb.child(ROOT_FID, "f")!;
      set.fsdb.put({ ...o0, version: "aa:1" }); // …and stamped
      const o = set.fsdb.get(o0.fid)!;
      const key = inoKey(fs.fstatSync(fd, { bigint: true }));
      const t = new ExtentsTracker(set);
      const content = (hash: string, size = 1000) => ({ size, mtimeNs: "1", hash });
      const close = (version: string, hash: string, next: string) => {
        const c = t.beginClose(key);
        try {
          return c.extents({ ...o, version, hash }, content(next));
        } finally {
          c.end();
        }
      };

      const inFlight = t.willWrite(fd, () => o, 10, 5);
      assert.deepEqual(close("aa:1", o.hash, "h1"), { baseHash: o.hash, ranges: [[10, 5]] });
      inFlight();
      // the version moved (the close was reintegrated): counted from it, the write that was in flight included
      assert.deepEqual(close("aa:2", "h1", "h2"), { baseHash: "h1", ranges: [[10, 5]] });
      // content the tracker did not see (a fetched version): unknown
      t.willWrite(fd, () => o, 0, 1)();
      assert.equal(close("aa:3", "zz", "h3"), undefined);
      // until a version is stamped on content it saw
      t.willWrite(fd, () => o, 500, 10)();
      assert.deepEqual(close("aa:4", "h3", "h4"), { baseHash: "h3", ranges: [[500, 10]] });
      // a truncation counts: everything past it is new
      t.truncatedHandle(fd, () => o, 100);
      t.willWrite(fd, () => o, 200, 10)();
      const c = t.beginClose(key);
      assert.deepEqual(c.extents({ ...o, version: "aa:4", hash: "h4" }, content("h5", 300)), { baseHash: "h3", ranges: [[100, 200]] });
      c.end();
    } finally {
      fs.closeSync(fd);
      set.close();
    }
  });
});
