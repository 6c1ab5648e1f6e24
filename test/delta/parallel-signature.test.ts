/**
 * Signatures computed in parts at once (`signatureOfFile`) are the bytes of the one-job signature,
 * whatever the size, the split and the signature format; and ranged reads cover exactly their range.
 */
import assert from "node:assert/strict";
import { writeFile, open } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { collect, signatureFile, signatureOfFile, type SignatureOptions } from "../../src/sync/delta/index.js";
import { readReused } from "../../src/sync/delta/job.js";
import { seededBytes, tempDir } from "./helpers.js";

const MiB = 1 << 20;

describe("signatures in parts", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir("imz-sigpar-");
  });
  after(() => dir.cleanup());

  const sizes = [16 * MiB - 1, 16 * MiB, 16 * MiB + 12345, 21 * MiB + 7];
  const formats: SignatureOptions[] = [{ hash: "md4" }, { hash: "blake2", blockLength: 1000, strongLength: 5 }, { hash: "md4", rollsum: "rollsum", blockLength: 4096 }];
  for (const [i, size] of sizes.entries()) {
    it(`${size} bytes: 1 to 4 parts give the one-job signature`, async () => {
      const file = dir.path(`f${i}.bin`);
      await writeFile(file, seededBytes(i + 1, size));
      for (const options of formats) {
        const whole = await collect(await signatureFile(file, options));
        for (const parts of [1, 2, 3, 4]) {
          const split = await signatureOfFile(file, options, parts);
          assert.ok(split.equals(whole), `${JSON.stringify(options)} in ${parts} parts differs (${split.length} vs ${whole.length} bytes)`);
        }
      }
    });
  }

  it("readReused with a range reads exactly that range, in chunks of the given size", async () => {
    const data = seededBytes(9, 100_000);
    const file = dir.path("r.bin");
    await writeFile(file, data);
    for (const [start, end] of [[0, 100_000], [1, 99_999], [4096, 8192], [50_000, 50_000], [99_999, 200_000]] as const) {
      const parts: Buffer[] = [];
      for await (const chunk of readReused(await open(file, "r"), 4096, { start, end })) {
        assert.ok(chunk.length <= 4096);
        parts.push(Buffer.from(chunk));
      }
      assert.ok(Buffer.concat(parts).equals(data.subarray(start, end)), `range ${start}-${end}`);
    }
  });
});
