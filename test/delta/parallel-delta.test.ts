/**
 * Deltas computed in parts at once (`deltaInParts`) are valid `rdiff` deltas: `rdiff patch` rebuilds
 * the new file exactly, whatever the split; where the new file is aligned with its basis they cost
 * no more than the one-job delta but a COPY command per boundary, elsewhere at most about a block
 * per boundary. And `ahead` runs a producer ahead of its consumer, bounded, passing errors on.
 */
import assert from "node:assert/strict";
import { open, readFile, writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { collect, deltaFile, deltaInParts, signatureOfFile } from "../../src/sync/delta/index.js";
import { ahead } from "../../src/sync/delta/job.js";
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
        const boundaries = edited.length >= 16 * MiB ? parts - 1 : 0;
        const slack = boundaries * (c.aligned ? 16 : block + 16);
        assert.ok(delta.length <= whole.length + slack, `${parts} parts: ${delta.length} bytes against ${whole.length} in one job`);
        if (parts === 1 || boundaries === 0) assert.ok(delta.equals(whole), "one part is the one-job delta");
      }
    });
  }
});

describe("ahead", () => {
  it("takes a producer's output ahead of the consumer, up to its bound, in order", async () => {
    let made = 0;
    async function* producer(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 10; i++) {
        made++;
        yield Buffer.alloc(100, i);
      }
    }
    const it = ahead(producer(), 250);
    const first = await it.next();
    await new Promise((r) => setImmediate(r));
    assert.ok(made >= 3 && made <= 5, `ran ahead up to its bound (${made} made)`);
    const rest = await collect(it);
    assert.equal(first.value![0], 0);
    assert.deepEqual([...new Set(rest)], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("passes the producer's error on, and closes the producer when the consumer stops", async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.from("a");
      throw new Error("boom");
    }
    await assert.rejects(collect(ahead(failing(), 1 << 20)), /boom/);
    let closed = false;
    async function* endless(): AsyncGenerator<Buffer> {
      try {
        for (;;) yield Buffer.alloc(10);
      } finally {
        closed = true;
      }
    }
    for await (const c of ahead(endless(), 100)) {
      void c;
      break;
    }
    assert.ok(closed);
  });
});
