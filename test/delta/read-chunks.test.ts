/**
 * `readChunks` reads the next chunk while its caller works on the current one: a read that fails
 * meanwhile (the file closed under a reader) surfaces where the next chunk is asked for, never as
 * an unhandled rejection while the reader waits.
 */
import assert from "node:assert/strict";
import { open, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { readChunks } from "../../src/sync/delta/job.js";
import { seededBytes, tempDir } from "./helpers.js";

describe("readChunks", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir("imz-readchunks-", true);
  });
  after(() => dir.cleanup());

  it("reports a read-ahead that failed while it waited where the next chunk is asked for", async () => {
    await writeFile(dir.path("f"), seededBytes(5, 5 << 10));
    const fh = await open(dir.path("f"), "r");
    const chunks = readChunks(fh, 1024, { start: 0 });
    assert.equal((await chunks.next()).value?.length, 1024);
    await fh.close();
    // the read already under way completes; the one started after it meets the closed file
    assert.equal((await chunks.next()).value?.length, 1024);
    await new Promise((r) => setImmediate(r)); // an unhandled rejection would be reported here
    await assert.rejects(chunks.next(), { code: "EBADF" });
  });
});
