/**
 * Re-signing a version as it is patched from its basis's signature (`PatchSigner`, `DeltaCommands`):
 * the COPY commands followed in a delta name exactly the bytes they copy, and the re-signed
 * version's signature is `rdiff signature`'s bytes for it, whatever the edits and however the delta
 * arrives in chunks; a failed patch gives none.
 */
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { collect, deltaFile, patchFile, resolveSignatureOptions, signatureOfFile } from "../../src/sync/delta/index.js";
import { DeltaCommands, PatchSigner } from "../../src/sync/delta/resign.js";
import { applyEdits, rdiff, seededBytes, tempDir, type Edit } from "./helpers.js";

const MiB = 1 << 20;
const SIG = { hash: "md4" } as const;

describe("re-signing a patched file", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir("imz-resign-", true);
  });
  after(() => dir.cleanup());

  const cases: Array<{ name: string; size: number; edits: Edit[] }> = [
    { name: "scattered overwrites", size: 9 * MiB + 5, edits: [0.1, 0.3, 0.5, 0.9].map((at, i) => ({ kind: "replace", at, length: 3000, seed: i + 1 })) },
    { name: "an insert in the middle", size: 8 * MiB, edits: [{ kind: "insert", at: 0.5, length: 1024, seed: 5 }] },
    { name: "a delete and an append", size: 10 * MiB + 77, edits: [{ kind: "delete", at: 0.3, length: 20_000 }, { kind: "append", length: 70_000, seed: 6 }] },
    { name: "a truncation", size: 12 * MiB, edits: [{ kind: "truncate", keep: 0.7 }] },
    { name: "no change", size: 8 * MiB + 1, edits: [] },
    { name: "a new head, literal only at first", size: 8 * MiB, edits: [{ kind: "replace", at: 0, length: 100_000, seed: 7 }] },
    // most of the file shifted: many staging buffers handed to the two signing jobs in turn, and a short last block
    { name: "an insert near the start", size: 24 * MiB + 333, edits: [{ kind: "insert", at: 0.1, length: 777, seed: 8 }] },
  ];
  for (const [i, c] of cases.entries()) {
    it(`${c.name}: the re-signed signature is rdiff's`, async () => {
      const old = seededBytes(300 + i, c.size);
      const edited = applyEdits(old, c.edits);
      await writeFile(dir.path("old"), old);
      await writeFile(dir.path("new"), edited);
      // the new file's signature with the old one's lengths (as the sync checks before re-signing)
      const args = resolveSignatureOptions(old.length, SIG);
      const signature = await signatureOfFile(dir.path("old"), { ...SIG, blockLength: args.blockLength, strongLength: args.strongLength });
      const delta = await collect(await deltaFile(signature, dir.path("new")));
      for (const piece of [1, 7, 4096, delta.length]) {
        const commands = new DeltaCommands();
        for (let off = 0; off < delta.length; off += piece) commands.feed(delta.subarray(off, off + piece));
        assert.equal(commands.size, edited.length, `chunks of ${piece}: the commands describe the whole new file`);
        for (const run of commands.copies) {
          assert.ok(edited.subarray(run.offset, run.offset + run.length).equals(old.subarray(run.basisOffset, run.basisOffset + run.length)), "a COPY names the bytes it copies");
        }
        const signer = new PatchSigner(signature, old.length);
        async function* pieces(): AsyncGenerator<Buffer> {
          for (let off = 0; off < delta.length; off += piece) yield delta.subarray(off, off + piece);
        }
        await patchFile(dir.path("old"), signer.delta(pieces()), dir.path("out"), (o) => signer.output(o));
        assert.ok((await readFile(dir.path("out"))).equals(edited));
        await rdiff("signature", "-f", "-H", "md4", "-R", "rabinkarp", "-b", String(args.blockLength), "-S", String(args.strongLength), dir.path("new"), dir.path("sig"));
        assert.ok((await signer.signature)?.equals(await readFile(dir.path("sig"))), `chunks of ${piece}: rdiff's signature of the new file`);
      }
    });
  }
});

describe("PatchSigner", () => {
  it("gives no signature when the patch fails", async () => {
    const t = await tempDir("imz-resign-fail-", true);
    try {
      const old = seededBytes(1, 9 * MiB);
      await writeFile(t.path("old"), old);
      const signature = await signatureOfFile(t.path("old"), SIG);
      const delta = await collect(await deltaFile(signature, t.path("old")));
      const signer = new PatchSigner(signature, old.length);
      async function* cut(): AsyncGenerator<Buffer> {
        yield delta.subarray(0, delta.length - 1); // no end command: the patch fails
      }
      await assert.rejects(patchFile(t.path("old"), signer.delta(cut()), t.path("out"), (o) => signer.output(o)));
      assert.equal(await signer.signature, undefined);
    } finally {
      await t.cleanup();
    }
  });
});
