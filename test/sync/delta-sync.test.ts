/**
 * File content moves as librsync deltas, through the CLI: a 1 KiB edit in the middle of a 64 MiB
 * file, on either side, moves well under 1 MiB and syncs exactly; a new file whose content already
 * exists in the receiving tree moves no content; a patch that fails its hash check is retried with
 * whole-file data and the sync ends correct.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { syncJson, type SyncJson } from "../helpers/cli.js";
import { leftoverTemps, manifest, randomBytes, tempDir, writeLargeFile } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const MiB = 1 << 20;

/** Overwrites `n` bytes at the middle of `file` with fresh random bytes. */
function editMiddle(file: string, n: number, seed: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, randomBytes(n, seed), 0, n, Math.floor(fs.fstatSync(fd).size / 2));
  } finally {
    fs.closeSync(fd);
  }
}

/** A synced pair: `a` the replica, `b` the holder, holding `files` (name → size). */
async function syncedPair(files: Record<string, number>, args: string[] = []): Promise<{ a: string; b: string }> {
  const a = tempDir("imz-delta-");
  const b = tempDir("imz-delta-");
  dirs.push(a, b);
  let seed = 1;
  for (const [name, size] of Object.entries(files)) writeLargeFile(path.join(a, name), size, seed++);
  const first = await syncJson([...args, a, b]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(manifest(b), manifest(a));
  return { a, b };
}

function moved(j: SyncJson): { content: number; wire: number } {
  return { content: j.bytesSent + j.bytesReceived, wire: j.wire.sent + j.wire.received };
}

/** Syncs and checks the trees are identical, with no temp files left. */
async function syncExact(a: string, b: string, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<SyncJson> {
  const r = await syncJson([...args, a, b], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(manifest(b), manifest(a));
  assert.deepEqual([...leftoverTemps(a), ...leftoverTemps(b)], []);
  return r.json!;
}

describe("content moves as deltas", () => {
  for (const transport of ["stdio", "in-process"]) {
    it(`a 1 KiB edit in the middle of a 64 MiB file, on the replica then on the holder, moves under 1 MiB (${transport})`, async () => {
      const args = ["--transport", transport];
      const { a, b } = await syncedPair({ "big.bin": 64 * MiB }, args);

      editMiddle(path.join(a, "big.bin"), 1024, 101);
      const up = await syncExact(a, b, args);
      assert.equal(up.filesSent, 1, "backfetched once");
      assert.ok(moved(up).content < MiB, `backfetch moved ${moved(up).content} content bytes`);
      if (transport === "stdio") assert.ok(moved(up).wire < MiB, `backfetch moved ${moved(up).wire} wire bytes`);

      editMiddle(path.join(b, "big.bin"), 1024, 102);
      const down = await syncExact(a, b, args);
      assert.equal(down.filesReceived, 1, "fetched once");
      assert.ok(moved(down).content < MiB, `fetch moved ${moved(down).content} content bytes`);
      if (transport === "stdio") assert.ok(moved(down).wire < MiB, `fetch moved ${moved(down).wire} wire bytes`);
    });
  }

  it("a new file whose content exists elsewhere in the receiving tree is copied there, not sent", async () => {
    const { a, b } = await syncedPair({ "big.bin": 8 * MiB, "small.txt": 100 });
    fs.mkdirSync(path.join(a, "sub"));
    fs.copyFileSync(path.join(a, "big.bin"), path.join(a, "sub", "copy.bin"));
    const up = await syncExact(a, b);
    assert.equal(up.bytesSent, 0, "nothing backfetched");
    assert.ok(moved(up).wire < 64 << 10, `copy on the replica moved ${moved(up).wire} wire bytes`);

    fs.copyFileSync(path.join(b, "big.bin"), path.join(b, "other.bin"));
    const down = await syncExact(a, b);
    assert.equal(down.bytesReceived, 0, "nothing fetched");
    assert.ok(moved(down).wire < 64 << 10, `copy on the holder moved ${moved(down).wire} wire bytes`);
  });

  it("a patch that fails its hash check is retried with whole-file data, in both directions", async () => {
    const size = 4 * MiB;
    const { a, b } = await syncedPair({ "f.bin": size });
    // the receiver's signature no longer describes its basis (as when the basis changes after signing)
    const env = { ...process.env, INTERMEZZO_TEST_STALE_SIGNATURE: "1" };

    editMiddle(path.join(a, "f.bin"), 1024, 201);
    const up = await syncExact(a, b, [], env);
    assert.ok(up.bytesSent >= size, `the retry sent the whole file (${up.bytesSent} bytes)`);

    editMiddle(path.join(b, "f.bin"), 1024, 202);
    const down = await syncExact(a, b, [], env);
    assert.ok(down.bytesReceived >= size, `the retry fetched the whole file (${down.bytesReceived} bytes)`);

    editMiddle(path.join(a, "f.bin"), 1024, 203);
    const normal = await syncExact(a, b);
    assert.ok(normal.bytesSent < MiB, "without the fault the next edit moves as a delta");
  });
});
