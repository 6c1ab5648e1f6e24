/**
 * A signature built from content as it passes (`SignatureBuilder.through`) is `rdiff signature`'s
 * bytes for that content, whatever the chunking; a failed or abandoned stream gives none, and
 * the content passes through unchanged either way.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { collect, resolveSignatureOptions, SignatureBuilder } from "../../src/sync/delta/index.js";
import { rdiff, seededBytes, tempDir } from "./helpers.js";

async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let off = 0; off < data.length; off += size) yield data.subarray(off, off + size);
}

describe("SignatureBuilder", () => {
  for (const [size, chunk] of [[0, 1000], [70_000, 1], [3_000_001, 65_536], [9 << 20, 4 << 20]] as const) {
    it(`${size} bytes in ${chunk}-byte chunks: rdiff's signature, the content unchanged`, async () => {
      const t = await tempDir("imz-sigbuild-");
      try {
        const data = seededBytes(size + 7, size);
        const sign = new SignatureBuilder(resolveSignatureOptions(size, { hash: "md4" }));
        const passed = await collect(sign.through(chunked(data, chunk)));
        assert.ok(passed.equals(data), "content passes unchanged");
        const args = resolveSignatureOptions(size, { hash: "md4" });
        await writeFile(t.path("f"), data);
        await rdiff("signature", "-H", "md4", "-R", "rabinkarp", "-b", String(args.blockLength), "-S", String(args.strongLength), t.path("f"), t.path("sig"));
        const built = await sign.signature;
        assert.ok(built?.equals(await readFile(t.path("sig"))), "same bytes as rdiff signature");
      } finally {
        await t.cleanup();
      }
    });
  }

  it("gives no signature when the stream fails or is abandoned", async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield seededBytes(100_000, 1);
      throw new Error("connection lost");
    }
    const failed = new SignatureBuilder(resolveSignatureOptions(200_000));
    await assert.rejects(collect(failed.through(failing())), /connection lost/);
    assert.equal(await failed.signature, undefined);

    const abandoned = new SignatureBuilder(resolveSignatureOptions(200_000));
    for await (const c of abandoned.through(chunked(seededBytes(200_000, 2), 50_000))) {
      void c;
      break;
    }
    assert.equal(await abandoned.signature, undefined);
  });
});
