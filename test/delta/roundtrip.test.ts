/** Round trips (signature → delta → patch gives the new bytes) on seeded data with edits. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync } from "node:fs";
import { open, readFile, writeFile } from "node:fs/promises";
import fc from "fast-check";
import {
  deltaBuffer,
  deltaFile,
  deltaStream,
  patchBuffer,
  patchFile,
  signatureBuffer,
  signatureFile,
  loadSignature,
  type SignatureOptions,
} from "../../src/sync/delta/index.js";
import { hashBuffer, hashFile } from "../../src/journal/content-hash.js";
import { applyEdits, seededBytes, tempDir, type Edit } from "./helpers.js";

async function roundTrip(oldData: Buffer, newData: Buffer, options: SignatureOptions = {}): Promise<void> {
  const sig = await signatureBuffer(oldData, options);
  const delta = await deltaBuffer(sig, newData);
  const patched = await patchBuffer(oldData, delta);
  assert.equal(patched.length, newData.length);
  assert.ok(patched.equals(newData), "patched bytes differ from the new file");
}

const BLOCK = 512;
const sizes = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK - 1, 2 * BLOCK + 1, 4096, 70_001];

test("edge sizes round-trip against themselves, empty, and each other (block 512)", async () => {
  for (const a of sizes) {
    for (const b of sizes) {
      await roundTrip(seededBytes(a + 1, a), seededBytes(a + 1, b), { blockLength: BLOCK });
    }
  }
});

test("identical files need no literal bytes", async () => {
  const data = seededBytes(7, 100_000);
  const sig = await loadSignature(await signatureBuffer(data, { blockLength: 1000 }));
  const stream = deltaStream(sig, data);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  const stats = stream.stats();
  assert.equal(stats.literalBytes, 0);
  assert.equal(stats.copyBytes, 100_000);
  assert.ok((await patchBuffer(data, Buffer.concat(chunks))).equals(data));
});

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("insert" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 5000 }), seed: fc.integer() }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 5000 }) }),
  fc.record({ kind: fc.constant("replace" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 3000 }), seed: fc.integer() }),
  fc.record({ kind: fc.constant("append" as const), length: fc.integer({ min: 1, max: 5000 }), seed: fc.integer() }),
  fc.record({ kind: fc.constant("truncate" as const), keep: fc.double({ min: 0, max: 1, noNaN: true }) }),
);

const optionsArb: fc.Arbitrary<SignatureOptions> = fc.record(
  {
    blockLength: fc.constantFrom(0, 64, 256, 1000, 2048),
    strongLength: fc.constantFrom(0, -1, 8, 16),
    hash: fc.constantFrom("blake2" as const, "md4" as const),
    rollsum: fc.constantFrom("rabinkarp" as const, "rollsum" as const),
  },
  { requiredKeys: [] },
);

test("property: any edits, any options, the patch gives the new file", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer(),
      fc.integer({ min: 0, max: 200_000 }),
      fc.array(editArb, { maxLength: 12 }),
      optionsArb,
      async (seed, size, edits, options) => {
        const base = seededBytes(seed, size);
        await roundTrip(base, applyEdits(base, edits), options);
      },
    ),
    { seed: 20261124, numRuns: 400 },
  );
});

test("property: scattered edits cost literal bytes near the edits, not the file", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer(), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 20 }), async (seed, spots) => {
      const base = seededBytes(seed, 1 << 20);
      const edited = applyEdits(base, spots.map((at, i) => ({ kind: "replace" as const, at, length: 100, seed: seed + i })));
      const sig = await signatureBuffer(base, { blockLength: 1024 });
      const delta = await deltaBuffer(sig, edited);
      assert.ok((await patchBuffer(base, delta)).equals(edited));
      // Each 100-byte edit spoils at most two 1 KiB blocks.
      assert.ok(delta.length <= spots.length * (2 * 1024 + 64) + 64, `delta ${delta.length} bytes for ${spots.length} edits`);
    }),
    { seed: 7, numRuns: 20 },
  );
});

test("unrelated content round-trips (all literal)", async () => {
  await roundTrip(seededBytes(1, 300_000), seededBytes(2, 250_000));
});

test("file API: signatureFile → deltaFile → patchFile, with the whole-file hash", async () => {
  const t = await tempDir();
  try {
    const base = seededBytes(11, 3_000_000);
    const edited = applyEdits(base, [
      { kind: "insert", at: 0.5, length: 1024, seed: 1 },
      { kind: "delete", at: 0.1, length: 777 },
      { kind: "append", length: 12345, seed: 2 },
    ]);
    await writeFile(t.path("old"), base);
    await writeFile(t.path("new"), edited);
    const sigStream = await signatureFile(t.path("old"));
    const sigChunks: Buffer[] = [];
    for await (const c of sigStream) sigChunks.push(c as Buffer);
    assert.equal(sigStream.args.blockLength, 1480); // chooseBlockLength(3e6): ceil(sqrt(3e6 × 8 / 11) / 8) × 8
    const delta = await deltaFile(Buffer.concat(sigChunks), t.path("new"));
    const result = await patchFile(t.path("old"), delta, t.path("out"));
    assert.equal(result.bytes, edited.length);
    assert.equal(result.hash, hashBuffer(edited));
    assert.equal(await hashFile(t.path("out")), hashBuffer(edited));
    assert.ok(result.stats.copyBytes > edited.length - 20_000);
    assert.ok(delta.stats().literalBytes < 20_000);
  } finally {
    await t.cleanup();
  }
});

test("patchFile writes to an open FileHandle or descriptor; a failing write rejects and frees the job", async () => {
  const t = await tempDir();
  try {
    const base = seededBytes(21, 9_000_000);
    const edited = applyEdits(base, [{ kind: "replace", at: 0.4, length: 5000, seed: 3 }]);
    await writeFile(t.path("old"), base);
    const delta = await deltaBuffer(await signatureBuffer(base), edited);
    const handle = await open(t.path("via-handle"), "w");
    await handle.write(Buffer.from("prefix:"));
    const viaHandle = await patchFile(t.path("old"), delta, handle);
    await handle.close();
    assert.ok((await readFile(t.path("via-handle"))).equals(Buffer.concat([Buffer.from("prefix:"), edited])));
    assert.equal(viaHandle.hash, hashBuffer(edited));
    const fd = openSync(t.path("via-fd"), "w");
    try {
      assert.equal((await patchFile(t.path("old"), delta, fd)).bytes, edited.length);
    } finally {
      closeSync(fd);
    }
    assert.ok((await readFile(t.path("via-fd"))).equals(edited));
    const readOnly = openSync(t.path("old"), "r");
    try {
      await assert.rejects(patchFile(t.path("old"), delta, readOnly), (err: NodeJS.ErrnoException) => err.code === "EBADF");
    } finally {
      closeSync(readOnly);
    }
  } finally {
    await t.cleanup();
  }
});
