/**
 * Mangled signatures and deltas must give typed errors (ImzError with an RS_* code) or a valid
 * result — never a crash or abort of the process. Thousands of seeded mutations of each.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isImzError } from "../../src/errors.js";
import { DELTA_MAGIC, SIGNATURE_MAGIC, deltaBuffer, deltaStream, loadSignature, patchBuffer, signatureBuffer } from "../../src/sync/delta/index.js";
import { binding } from "../../src/sync/delta/native.js";
import { applyEdits, seededBytes } from "./helpers.js";

const RS_CODES = new Set(["RS_CORRUPT", "RS_BAD_MAGIC", "RS_INPUT_ENDED", "RS_PARAM_ERROR", "RS_MEM_ERROR", "RS_IO_ERROR", "RS_INTERNAL_ERROR"]);

/** One way to damage bytes. */
type Mangle =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; value: number }
  | { kind: "truncate"; keep: number }
  | { kind: "insert"; at: number; bytes: number[] }
  | { kind: "delete"; at: number; length: number }
  | { kind: "word"; at: number; value: number };

const at = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const mangleArb: fc.Arbitrary<Mangle> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), keep: at }),
  fc.record({ kind: fc.constant("insert" as const), at, bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant("delete" as const), at, length: fc.integer({ min: 1, max: 64 }) }),
  // header words: magic, block length, strong length (signature) or command parameters (delta)
  fc.record({ kind: fc.constant("word" as const), at: fc.constantFrom(0, 4, 8, 12, 0.5), value: fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 0x80000000, 33, 16, 17, 32, 0x72730236, 0x72730137, 0x72730146, 1 << 27) }),
);

function mangle(input: Buffer, steps: readonly Mangle[]): Buffer {
  let data = Buffer.from(input);
  for (const m of steps) {
    const pos = m.kind === "truncate" ? 0 : Math.floor((m.at < 1 ? m.at * data.length : m.at) || 0);
    switch (m.kind) {
      case "flip":
        if (data.length > 0) data[pos % data.length] ^= 1 << m.bit;
        break;
      case "set":
        if (data.length > 0) data[pos % data.length] = m.value;
        break;
      case "truncate":
        data = data.subarray(0, Math.floor(m.keep * data.length));
        break;
      case "insert":
        data = Buffer.concat([data.subarray(0, pos), Buffer.from(m.bytes), data.subarray(pos)]);
        break;
      case "delete":
        data = Buffer.concat([data.subarray(0, pos), data.subarray(pos + m.length)]);
        break;
      case "word":
        if (pos + 4 <= data.length) data.writeUInt32BE(m.value >>> 0, pos);
        break;
    }
  }
  return data;
}

const outcomes = new Map<string, number>();
function expectTyped(err: unknown): void {
  assert.ok(isImzError(err), `not an ImzError: ${String(err)}`);
  assert.ok(RS_CODES.has(err.code), `unexpected code ${err.code}`);
  assert.ok(err.hint, "typed errors carry a hint");
  outcomes.set(err.code, (outcomes.get(err.code) ?? 0) + 1);
}

const basis = seededBytes(42, 20_000);
const newer = applyEdits(basis, [
  { kind: "insert", at: 0.25, length: 700, seed: 1 },
  { kind: "replace", at: 0.6, length: 900, seed: 2 },
  { kind: "append", length: 333, seed: 3 },
]);

test("fuzz: 3000 mangled signatures give typed errors or usable signatures", async () => {
  outcomes.clear();
  const sigs = [
    await signatureBuffer(basis, { blockLength: 256 }),
    await signatureBuffer(basis, { blockLength: 1024, hash: "md4", rollsum: "rollsum", strongLength: 8 }),
  ];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(0, 1), fc.array(mangleArb, { minLength: 1, maxLength: 4 }), async (which, steps) => {
      const bad = mangle(sigs[which] as Buffer, steps);
      try {
        const loaded = await loadSignature(bad);
        const delta = await deltaBuffer(bad, newer);
        assert.ok(loaded.blockLength > 0);
        // A damaged signature may mislead the delta, but it must still be a valid delta.
        assert.equal((await patchBuffer(basis, delta)).length >= 0, true);
        outcomes.set("ok", (outcomes.get("ok") ?? 0) + 1);
      } catch (err) {
        expectTyped(err);
      }
    }),
    { seed: 1, numRuns: 3000 },
  );
  console.log("mangled signatures:", Object.fromEntries(outcomes));
  assert.ok((outcomes.get("RS_BAD_MAGIC") ?? 0) > 0 && (outcomes.get("RS_CORRUPT") ?? 0) > 0);
});

test("fuzz: 3000 mangled deltas give typed errors or some output", async () => {
  outcomes.clear();
  const delta = await deltaBuffer(await signatureBuffer(basis, { blockLength: 512 }), newer);
  await fc.assert(
    fc.asyncProperty(fc.array(mangleArb, { minLength: 1, maxLength: 4 }), async (steps) => {
      try {
        await patchBuffer(basis, mangle(delta, steps));
        outcomes.set("ok", (outcomes.get("ok") ?? 0) + 1);
      } catch (err) {
        expectTyped(err);
      }
    }),
    { seed: 2, numRuns: 3000 },
  );
  console.log("mangled deltas:", Object.fromEntries(outcomes));
  for (const code of ["RS_BAD_MAGIC", "RS_CORRUPT", "RS_INPUT_ENDED"]) assert.ok((outcomes.get(code) ?? 0) > 0, `no ${code}`);
});

test("fuzz: random garbage of every small length", async () => {
  for (let len = 0; len < 300; len++) {
    const junk = seededBytes(len + 99, len);
    const withMagic = (magic: number): Buffer => Buffer.concat([Buffer.from([magic >>> 24, (magic >>> 16) & 0xff, (magic >>> 8) & 0xff, magic & 0xff]), junk]);
    for (const input of [junk, withMagic(DELTA_MAGIC), withMagic(SIGNATURE_MAGIC.RS_RK_BLAKE2_SIG_MAGIC), withMagic(SIGNATURE_MAGIC.RS_MD4_SIG_MAGIC)]) {
      await loadSignature(input).then(() => undefined, expectTyped);
      await patchBuffer(basis, input).then(() => undefined, expectTyped);
    }
  }
});

test("a second concurrent step on one job is a typed error; the first completes", async () => {
  const job = new (binding().Job)("signature", 0x72730147, 1024, 16, -1);
  const first = job.step(basis, false);
  assert.throws(() => job.step(basis, false), (err: { code?: string }) => err.code === "RS_PARAM_ERROR");
  const r = await first;
  assert.equal(r.consumed, basis.length);
  job.close();
});

test("a signature is used by one delta at a time", async () => {
  const sig = await loadSignature(await signatureBuffer(basis));
  const first = deltaStream(sig, newer);
  assert.throws(() => deltaStream(sig, newer), (err: unknown) => isImzError(err, "RS_PARAM_ERROR"));
  for await (const _ of first) void _;
  for await (const _ of deltaStream(sig, newer)) void _; // released once the first ended
});

test("bad options are RS_PARAM_ERROR", async () => {
  await assert.rejects(signatureBuffer(basis, { blockLength: -5 }), (e: unknown) => isImzError(e, "RS_PARAM_ERROR"));
  await assert.rejects(signatureBuffer(basis, { hash: "md4", strongLength: 17 }), (e: unknown) => isImzError(e, "RS_PARAM_ERROR"));
  await assert.rejects(signatureBuffer(basis, { blockLength: 1 << 27 }), (e: unknown) => isImzError(e, "RS_PARAM_ERROR"));
});

test("a COPY past the end of a file basis is RS_INPUT_ENDED", async () => {
  const delta = await deltaBuffer(await signatureBuffer(basis), basis);
  await assert.rejects(patchBuffer(basis.subarray(0, 1000), delta), (e: unknown) => isImzError(e, "RS_INPUT_ENDED"));
});
