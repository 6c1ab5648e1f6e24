/** The block-length and strong-sum rules, the magic numbers, and option validation. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isImzError } from "../../src/errors.js";
import {
  FALSE_MATCH_BITS,
  SIGNATURE_MAGIC,
  chooseBlockLength,
  chooseStrongLength,
  resolveSignatureOptions,
  signatureMagic,
} from "../../src/sync/delta/index.js";

test("chooseBlockLength: sqrt(size × (4 + S) / 11), multiple of 8, clamped to [512, 128 KiB]", () => {
  const rows: Array<[size: number, block: number]> = [
    [0, 512],
    [1, 512],
    [512 * 512, 512],
    [1_000_000, 856],
    [3_000_000, 1480],
    [2 ** 28, 13976],
    [2 ** 30, 29640],
    [5 * 2 ** 30, 66280],
    [2 ** 40, 131072],
  ];
  for (const [size, block] of rows) assert.equal(chooseBlockLength(size), block, `size ${size}`);
  // the signature's bytes per basis byte stay at or under rsync's (sqrt(size) blocks at 11 bytes each)
  for (const size of [2 ** 20, 2 ** 28, 2 ** 34]) {
    const block = chooseBlockLength(size);
    assert.ok((4 + chooseStrongLength(size, block)) / block <= 11 / Math.sqrt(size), `size ${size}`);
  }
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 50 }), fc.integer({ min: 0, max: 2 ** 50 }), (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      assert.equal(chooseBlockLength(lo) % 8, 0);
      assert.ok(chooseBlockLength(lo) <= chooseBlockLength(hi));
    }),
  );
});

test("chooseStrongLength: the fewest bytes keeping expected false matches under 2^-20, within [4, hash maximum]", () => {
  const rows: Array<[size: number, block: number, hash: "blake2" | "md4", strong: number]> = [
    [0, 512, "blake2", 4],
    [2 ** 28, 16384, "md4", 4],
    [2 ** 30, 32768, "blake2", 5],
    [5 * 2 ** 30, 73272, "blake2", 5],
    [2 ** 60, 131072, "md4", 12],
    [2 ** 200, 131072, "md4", 16],
  ];
  for (const [size, block, hash, strong] of rows) assert.equal(chooseStrongLength(size, block, hash), strong, `size ${size}`);
  /** log2 of the expected false block matches of one delta with `s`-byte strong sums. */
  const log2FalseMatches = (size: number, s: number): number =>
    Math.log2(size + 2 ** 24) + Math.log2(Math.ceil(size / chooseBlockLength(size)) + 1) - 32 - 8 * s;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 52 }), fc.constantFrom("blake2" as const, "md4" as const), (size, hash) => {
      const s = chooseStrongLength(size, chooseBlockLength(size), hash);
      assert.ok(s >= 4 && s <= (hash === "md4" ? 16 : 32));
      assert.ok(log2FalseMatches(size, s) <= -FALSE_MATCH_BITS, `size ${size}: ${s} bytes are enough`);
      if (s > 4) assert.ok(log2FalseMatches(size, s - 1) > -FALSE_MATCH_BITS, `size ${size}: ${s - 1} bytes are not`);
    }),
  );
});

test("magic numbers match librsync 2.3", () => {
  assert.equal(signatureMagic("blake2", "rabinkarp"), SIGNATURE_MAGIC.RS_RK_BLAKE2_SIG_MAGIC);
  assert.equal(signatureMagic("blake2", "rollsum"), SIGNATURE_MAGIC.RS_BLAKE2_SIG_MAGIC);
  assert.equal(signatureMagic("md4", "rabinkarp"), SIGNATURE_MAGIC.RS_RK_MD4_SIG_MAGIC);
  assert.equal(signatureMagic("md4", "rollsum"), SIGNATURE_MAGIC.RS_MD4_SIG_MAGIC);
  assert.equal(SIGNATURE_MAGIC.RS_RK_BLAKE2_SIG_MAGIC, 0x72730147);
});

test("resolveSignatureOptions: project defaults, rdiff's 0/-1, and typed errors", () => {
  assert.deepEqual(resolveSignatureOptions(1_000_000), { magic: 0x72730147, blockLength: 856, strongLength: 4 });
  assert.deepEqual(resolveSignatureOptions(-1, { blockLength: 0, strongLength: 0 }), { magic: 0x72730147, blockLength: 0, strongLength: 0 });
  for (const bad of [{ blockLength: 1.5 }, { blockLength: -1 }, { strongLength: 33 }, { hash: "md4" as const, strongLength: 17 }, { strongLength: -2 }]) {
    assert.throws(() => resolveSignatureOptions(100, bad), (e: unknown) => isImzError(e, "RS_PARAM_ERROR"));
  }
  assert.throws(() => resolveSignatureOptions(100, { hash: "sha1" as unknown as "md4" }), (e: unknown) => isImzError(e, "RS_PARAM_ERROR"));
});
