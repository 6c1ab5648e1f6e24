/** Byte compatibility with the real `rdiff` (librsync 2.3.2), in both directions. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { deltaBuffer, patchBuffer, signatureBuffer, type SignatureOptions } from "../../src/sync/delta/index.js";
import { applyEdits, rdiff, seededBytes, tempDir } from "./helpers.js";

interface Case {
  name: string;
  size: number;
  rdiffArgs: string[];
  options: SignatureOptions;
}

// rdiff's defaults are block 0 (librsync's rule for the file's size) and sum 0 (the maximum).
const CASES: Case[] = [
  { name: "defaults, empty file", size: 0, rdiffArgs: [], options: { blockLength: 0, strongLength: 0 } },
  { name: "defaults, 1 byte", size: 1, rdiffArgs: [], options: { blockLength: 0, strongLength: 0 } },
  { name: "defaults, 70 KB (size-based block)", size: 70_000, rdiffArgs: [], options: { blockLength: 0, strongLength: 0 } },
  { name: "defaults, 3 MB", size: 3_000_000, rdiffArgs: [], options: { blockLength: 0, strongLength: 0 } },
  { name: "md4 + rollsum, block 1024, sum 8", size: 500_000, rdiffArgs: ["-H", "md4", "-R", "rollsum", "-b", "1024", "-S", "8"], options: { hash: "md4", rollsum: "rollsum", blockLength: 1024, strongLength: 8 } },
  { name: "blake2 + rollsum, block 2047", size: 400_001, rdiffArgs: ["-R", "rollsum", "-b", "2047"], options: { rollsum: "rollsum", blockLength: 2047, strongLength: 0 } },
  { name: "md4 + rabinkarp, minimum sum", size: 1_000_000, rdiffArgs: ["-H", "md4", "-S", "-1"], options: { hash: "md4", blockLength: 0, strongLength: -1 } },
  { name: "blake2, block 2048, sum 12", size: 2048 * 7 + 1, rdiffArgs: ["-b", "2048", "-S", "12"], options: { blockLength: 2048, strongLength: 12 } },
];

for (const c of CASES) {
  test(`rdiff compat (${c.name}): identical signatures; our sig → rdiff delta → our patch; rdiff sig → our delta → rdiff patch`, async () => {
    const t = await tempDir();
    try {
      const base = seededBytes(c.size + 3, c.size);
      const edited = applyEdits(base, [
        { kind: "insert", at: 0.3, length: 1000, seed: 5 },
        { kind: "replace", at: 0.7, length: 300, seed: 6 },
        { kind: "append", length: 77, seed: 8 },
      ]);
      await writeFile(t.path("old"), base);
      await writeFile(t.path("new"), edited);

      await rdiff("signature", ...c.rdiffArgs, t.path("old"), t.path("rdiff.sig"));
      const theirSig = await readFile(t.path("rdiff.sig"));
      const ourSig = await signatureBuffer(base, c.options);
      assert.ok(ourSig.equals(theirSig), `signature bytes differ (${ourSig.length} vs ${theirSig.length})`);

      // our signature → rdiff delta → our patch
      await writeFile(t.path("our.sig"), ourSig);
      await rdiff("delta", t.path("our.sig"), t.path("new"), t.path("rdiff.delta"));
      const patched = await patchBuffer(base, await readFile(t.path("rdiff.delta")));
      assert.ok(patched.equals(edited), "our patch of rdiff's delta differs");

      // rdiff signature → our delta → rdiff patch
      await writeFile(t.path("our.delta"), await deltaBuffer(theirSig, edited));
      await rdiff("patch", t.path("old"), t.path("our.delta"), t.path("rdiff.out"));
      assert.ok((await readFile(t.path("rdiff.out"))).equals(edited), "rdiff's patch of our delta differs");
    } finally {
      await t.cleanup();
    }
  });
}
