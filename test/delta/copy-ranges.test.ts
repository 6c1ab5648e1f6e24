/**
 * `copyRanges` (native/copy-range.cc): byte ranges of other files written to given offsets of a
 * file in the kernel, while other writes go on at other offsets of it (`writeChunks` from an
 * offset) — how a patch rebuilds the part of a new version it has passed (`patch-in-place.ts`).
 * Also across filesystems (a source in /dev/shm, where `copy_file_range` answers EXDEV and the
 * copy goes through a buffer), past a source's end (zeros), and a bad descriptor's error.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { copyRanges } from "../../src/sync/delta/native.js";
import { writeChunks } from "../../src/sync/delta/write.js";
import { seededBytes, tempDir } from "./helpers.js";

type Dir = Awaited<ReturnType<typeof tempDir>>;

async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

describe("copyRanges", () => {
  let disk: Dir;
  let shm: Dir;
  before(async () => {
    disk = await tempDir("imz-copyranges-");
    shm = await tempDir("imz-copyranges-", true);
  });
  after(async () => {
    await disk.cleanup();
    await shm.cleanup();
  });

  for (const where of ["the same filesystem", "another filesystem (through a buffer)"]) {
    it(`writes each piece at its offset while the rest is written after it (${where})`, async () => {
      const sources = where.startsWith("the same") ? disk : shm;
      const a = seededBytes(1, 3 << 20);
      const b = seededBytes(2, 64 << 10);
      const rest = seededBytes(3, 5 << 20);
      fs.writeFileSync(sources.path("a"), a);
      fs.writeFileSync(sources.path("b"), b);
      const fa = fs.openSync(sources.path("a"), "r");
      const fb = fs.openSync(sources.path("b"), "r");
      const out = await fs.promises.open(disk.path(`out-${sources === disk ? "same" : "other"}`), "wx");
      try {
        // a's first MiB, b's 1,000 bytes from offset 7, then a from 1 MiB + 1,000 on: 3 MiB in all
        const prefix = 3 << 20;
        const copied = copyRanges(out.fd, [
          { fd: fa, from: 0, to: 0, length: 1 << 20 },
          { fd: fb, from: 7, to: 1 << 20, length: 1000 },
          { fd: fa, from: (1 << 20) + 1000, to: (1 << 20) + 1000, length: prefix - (1 << 20) - 1000 },
        ]);
        const written = await writeChunks(chunksOf(rest, 1 << 20)[Symbol.asyncIterator](), out, () => undefined, prefix);
        await copied;
        assert.equal(written, rest.length);
        const want = Buffer.concat([a.subarray(0, 1 << 20), b.subarray(7, 1007), a.subarray((1 << 20) + 1000, prefix), rest]);
        assert.ok(fs.readFileSync(disk.path(`out-${sources === disk ? "same" : "other"}`)).equals(want));
      } finally {
        await out.close();
        fs.closeSync(fa);
        fs.closeSync(fb);
      }
    });
  }

  it("writes zeros for a piece past its source's end", async () => {
    const a = seededBytes(4, 10_000);
    fs.writeFileSync(disk.path("short"), a);
    const fa = fs.openSync(disk.path("short"), "r");
    const out = fs.openSync(disk.path("out-short"), "wx");
    try {
      await copyRanges(out, [{ fd: fa, from: 5000, to: 0, length: 8000 }]);
      assert.ok(fs.readFileSync(disk.path("out-short")).equals(Buffer.concat([a.subarray(5000), Buffer.alloc(3000)])));
    } finally {
      fs.closeSync(out);
      fs.closeSync(fa);
    }
  });

  it("rejects with the errno of a descriptor it cannot read", async () => {
    const out = fs.openSync(disk.path("out-bad"), "wx");
    const wo = fs.openSync(disk.path("write-only"), "w");
    try {
      await assert.rejects(copyRanges(out, [{ fd: wo, from: 0, to: 0, length: 10 }]), { code: "EBADF" });
    } finally {
      fs.closeSync(out);
      fs.closeSync(wo);
    }
  });
});
