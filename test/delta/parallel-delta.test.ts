/**
 * Deltas computed in pieces, several at once (`deltaInParts`), are valid `rdiff` deltas: `rdiff
 * patch` rebuilds the new file exactly, whatever the split; where the new file is aligned with its
 * basis, or shifted against it, they cost no more than the one-job delta but a COPY command per
 * boundary (the pieces overlap by a block and are joined where no literal is lost, `splice.ts`),
 * elsewhere at most about a block per boundary. The join's encoder writes commands as librsync does.
 */
import assert from "node:assert/strict";
import { open, readFile, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { collect, deltaBuffer, deltaFile, deltaInParts, signatureBuffer, signatureOfFile } from "../../src/sync/delta/index.js";
import { deltaPieces } from "../../src/sync/delta/delta.js";
import { DeltaCommands } from "../../src/sync/delta/resign.js";
import { commandsOf, Encoder } from "../../src/sync/delta/splice.js";
import { applyEdits, rdiff, seededBytes, tempDir, type Edit } from "./helpers.js";

const MiB = 1 << 20;
const SIG = { hash: "md4" } as const;

describe("deltas in parts", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir("imz-deltapar-", true);
  });
  after(() => dir.cleanup());

  const cases: Array<{ name: string; size: number; edits: Edit[]; aligned: boolean }> = [
    { name: "scattered overwrites", size: 21 * MiB + 7, edits: [0.1, 0.3, 0.5, 0.74, 0.9].map((at, i) => ({ kind: "replace", at, length: 1000, seed: i + 1 })), aligned: true },
    { name: "an append", size: 17 * MiB, edits: [{ kind: "append", length: 3 * MiB + 5, seed: 7 }], aligned: true },
    { name: "a 1 KiB insert in the middle", size: 24 * MiB, edits: [{ kind: "insert", at: 0.5, length: 1024, seed: 8 }], aligned: false },
    { name: "an insert and a delete", size: 20 * MiB + 3, edits: [{ kind: "insert", at: 0.2, length: 777, seed: 9 }, { kind: "delete", at: 0.6, length: 5000 }], aligned: false },
    { name: "a truncation", size: 18 * MiB, edits: [{ kind: "truncate", keep: 0.55 }], aligned: true },
    { name: "just under the split size", size: 16 * MiB - 1, edits: [{ kind: "replace", at: 0.5, length: 10, seed: 3 }], aligned: true },
    { name: "inserts across four pieces", size: 50 * MiB + 11, edits: [0.1, 0.4, 0.7].map((at, i) => ({ kind: "insert", at, length: 3000 + i, seed: 20 + i })), aligned: false },
  ];
  for (const [i, c] of cases.entries()) {
    it(`${c.name}: rdiff patch rebuilds the file from 1 to 4 parts`, async () => {
      const old = seededBytes(100 + i, c.size);
      const edited = applyEdits(old, c.edits);
      await writeFile(dir.path("old"), old);
      await writeFile(dir.path("new"), edited);
      const signature = await signatureOfFile(dir.path("old"), SIG);
      const block = signature.readUInt32BE(4);
      const whole = await collect(await deltaFile(signature, dir.path("new")));
      for (const parts of [1, 2, 3, 4]) {
        const fh = await open(dir.path("new"), "r");
        let delta: Buffer;
        try {
          delta = await collect(deltaInParts(signature, fh, edited.length, parts));
        } finally {
          await fh.close();
        }
        await writeFile(dir.path("delta"), delta);
        await rdiff("patch", "-f", dir.path("old"), dir.path("delta"), dir.path("out"));
        assert.ok((await readFile(dir.path("out"))).equals(edited), `${parts} parts: rdiff patch gives the new file`);
        const boundaries = deltaPieces(edited.length, block, parts) - 1;
        // shifted data joins without loss; only a boundary inside an edit may cost up to a block
        const slack = boundaries * (c.aligned || c.edits.every((e) => e.kind === "insert") ? 17 : block + 17);
        assert.ok(delta.length <= whole.length + slack, `${parts} parts: ${delta.length} bytes against ${whole.length} in one job`);
        if (parts === 1 || boundaries === 0) assert.ok(delta.equals(whole), "one part is the one-job delta");
      }
    });
  }
});

describe("pieces streamed", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir("imz-deltapiece-", true);
  });
  after(() => dir.cleanup());

  it("sends a piece's commands before the run of matched blocks it is part of ends (a patch can start)", async () => {
    const old = seededBytes(31, 48 * MiB);
    const edited = applyEdits(old, [{ kind: "insert", at: 0.9, length: 1024, seed: 32 }]);
    await writeFile(dir.path("old"), old);
    await writeFile(dir.path("new"), edited);
    const signature = await signatureOfFile(dir.path("old"), SIG);
    const fh = await open(dir.path("new"), "r");
    const delta = deltaInParts(signature, fh, edited.length, 2);
    try {
      const sent = new DeltaCommands();
      for (let r = await delta.next(); r.done !== true && sent.copies.length === 0; r = await delta.next()) sent.feed(r.value);
      // the first 43 MiB are one run of matched blocks: its first COPY comes with the first piece
      assert.ok(sent.copies[0]!.length <= 16 * MiB, `the first COPY sent covers ${sent.copies[0]!.length} bytes`);
    } finally {
      await delta.return(undefined); // stops the pieces still running
      await fh.close();
    }
  });
});

describe("splice", () => {
  it("re-encodes a delta's commands byte for byte as librsync wrote them", async () => {
    const old = seededBytes(1, 3 * MiB);
    const edited = applyEdits(old, [
      { kind: "replace", at: 0.2, length: 50, seed: 2 },
      { kind: "insert", at: 0.5, length: 70_000, seed: 3 },
      { kind: "delete", at: 0.7, length: 9000 },
      { kind: "append", length: 300_000, seed: 4 },
    ]);
    for (const blockLength of [512, 2048]) {
      const delta = await deltaBuffer(await signatureBuffer(old, { hash: "md4", blockLength }), edited);
      const out = new Encoder();
      out.raw(delta.subarray(0, 4));
      for (const cmd of commandsOf(delta, 0)) out.push(cmd);
      out.raw(Buffer.from([0]));
      assert.ok(Buffer.concat(out.take()).equals(delta), `block ${blockLength}: same bytes`);
    }
  });
});
