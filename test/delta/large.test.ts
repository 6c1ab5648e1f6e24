/**
 * Large files: a 5 GiB sparse file (offsets past the 4 GiB boundary, cheap on disk) round-trips, and
 * the event loop stays responsive while librsync works through a 1 GiB delta.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { open } from "node:fs/promises";
import { collect } from "../../src/sync/delta/job.js";
import {
  deltaFile,
  patchStream,
  signatureFile,
} from "../../src/sync/delta/index.js";
import { hashFile } from "../../src/journal/content-hash.js";
import { measureEventLoopLag, seededBytes, tempDir } from "./helpers.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Writes a sparse file of `size` bytes holding seeded 1 MiB chunks at `offsets`, then `edits`. */
async function sparseFile(path: string, size: number, offsets: number[], edits: Array<[number, Buffer]> = []): Promise<void> {
  const handle = await open(path, "w");
  try {
    await handle.truncate(size);
    for (const off of offsets) await handle.write(seededBytes(off % 1_000_003, MiB), 0, MiB, off);
    for (const [off, bytes] of edits) await handle.write(bytes, 0, bytes.length, off);
  } finally {
    await handle.close();
  }
}

/**
 * Patches `basisPath` with `delta` and compares the output with the file at `expectedPath` as it
 * streams (no second copy on disk, no hashing of 5 GiB twice).
 */
async function patchAndCompare(basisPath: string, delta: Buffer, expectedPath: string): Promise<{ bytes: number; literalBytes: number; copyBytes: number }> {
  const basis = await open(basisPath, "r");
  const expected = await open(expectedPath, "r");
  try {
    const stream = patchStream(basis.fd, delta);
    let bytes = 0;
    for await (const chunk of stream) {
      const got = chunk as Buffer;
      const want = Buffer.allocUnsafe(got.length);
      const { bytesRead } = await expected.read(want, 0, got.length, bytes);
      assert.equal(bytesRead, got.length, `expected file ended at ${bytes + bytesRead}`);
      if (!got.equals(want)) assert.fail(`patched output differs in the ${got.length} bytes at offset ${bytes}`);
      bytes += got.length;
    }
    assert.equal((await expected.stat()).size, bytes);
    const stats = stream.stats();
    return { bytes, literalBytes: stats.literalBytes, copyBytes: stats.copyBytes };
  } finally {
    await basis.close();
    await expected.close();
  }
}

test("5 GiB sparse file past the 4 GiB boundary round-trips", async () => {
  const t = await tempDir("imz-delta-large-", true);
  try {
    const size = 5 * GiB;
    const offsets = [0, GiB + 123, 4 * GiB - 300 * 1024, 4.5 * GiB, size - MiB];
    await sparseFile(t.path("old"), size, offsets);
    const newSize = size + 100 * 1024;
    await sparseFile(t.path("new"), newSize, offsets, [
      [4.5 * GiB + 100 * 1024, seededBytes(1, 4096)],
      [4 * GiB + 5, seededBytes(2, 10)],
      [size, seededBytes(3, 100 * 1024)],
    ]);
    const started = Date.now();
    // MD4 + rollsum hash about twice as fast as the default BLAKE2 + Rabin-Karp; what this test is
    // about (64-bit offsets, sparse input) does not depend on the format, and the default format
    // runs through a whole 1 GiB file below.
    const sig = await collect(await signatureFile(t.path("old"), { hash: "md4", rollsum: "rollsum" }));
    const deltaStream = await deltaFile(sig, t.path("new"));
    const delta = await collect(deltaStream);
    const patched = await patchAndCompare(t.path("old"), delta, t.path("new"));
    console.log(`5 GiB: signature ${sig.length} B, delta ${delta.length} B, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(patched.bytes, newSize);
    // The seeded chunk at 4.5 GiB exists nowhere else, so with few literal bytes it was copied from there.
    assert.ok(patched.literalBytes < 512 * 1024, `literal ${patched.literalBytes}`);
    assert.ok(patched.copyBytes > size - MiB);
    assert.equal(deltaStream.stats().inBytes, newSize);
  } finally {
    await t.cleanup();
  }
});

test("event loop stays responsive during a 1 GiB delta (timer lag < 200 ms)", async () => {
  const t = await tempDir("imz-delta-large-", true);
  try {
    const offsets = Array.from({ length: 16 }, (_, i) => i * 64 * MiB + 4096);
    await sparseFile(t.path("old"), GiB, offsets);
    await sparseFile(t.path("new"), GiB, offsets, [[GiB / 2 + 77, seededBytes(9, 1024)]]);
    const sig = await collect(await signatureFile(t.path("old")));
    await hashFile(t.path("new")); // warm the page cache: measure librsync, not first reads of holes
    const { result: delta, lag } = await measureEventLoopLag("1 GiB delta", async () => collect(await deltaFile(sig, t.path("new"))));
    assert.ok(delta.length < MiB);
    assert.ok(lag.samples > 10, "the timer kept firing while librsync worked");
    assert.ok(lag.maxTimerLagMs < 200, `max timer lag ${lag.maxTimerLagMs} ms`);
  } finally {
    await t.cleanup();
  }
});
