/**
 * `BasisRelease` (`src/sync/basis-release.ts`): the basis's cached pages are released once the
 * patch's output has passed the COPY commands that read them — from the offset it is told on,
 * never before it — and the basis's bytes are untouched. Measured with `fincore` (util-linux):
 * the pages of the file in the page cache (with large folios, those straddling a COPY's
 * unaligned edge stay: a release drops only whole folios).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { BasisRelease } from "../../src/sync/basis-release.js";
import { deltaBuffer, signatureBuffer } from "../../src/sync/delta/index.js";
import { releaseCache } from "../../src/sync/delta/native.js";
import { seededBytes, tempDir } from "./helpers.js";

const MiB = 1 << 20;
const hasFincore = ((): boolean => {
  try {
    execFileSync("fincore", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** Bytes of `file` in the page cache. */
function cached(file: string): number {
  return Number(execFileSync("fincore", ["--bytes", "--noheadings", "--output", "RES", file], { encoding: "utf8" }).trim());
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

describe("BasisRelease", { skip: hasFincore ? false : "fincore (util-linux) is not installed" }, () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let basis: Buffer;
  let delta: Buffer;
  before(async () => {
    dir = await tempDir("imz-basis-release-");
    basis = seededBytes(7, 32 * MiB);
    // a 1 KiB insert at 16 MiB: a COPY of the first 16 MiB, the literal, a COPY of the rest shifted
    const next = Buffer.concat([basis.subarray(0, 16 * MiB), seededBytes(8, 1024), basis.subarray(16 * MiB)]);
    delta = await deltaBuffer(await signatureBuffer(basis, { hash: "md4" }), next);
  });
  after(() => dir.cleanup());

  /** The basis written, flushed (dirty pages are never dropped) and read into the page cache; its descriptor. */
  function cachedBasis(name: string): number {
    const file = dir.path(name);
    fs.writeFileSync(file, basis);
    const fd = fs.openSync(file, "r");
    fs.fdatasyncSync(fd);
    fs.readFileSync(file);
    assert.equal(cached(file), basis.length);
    return fd;
  }

  async function follow(release: BasisRelease): Promise<void> {
    for await (const chunk of release.delta(once(delta))) void chunk;
  }

  /** Whether this filesystem drops clean pages on `DONTNEED` at all (tmpfs keeps them: nothing to measure there). */
  function dropsPages(): boolean {
    const fd = cachedBasis("probe");
    try {
      releaseCache(fd, 0, basis.length);
      return cached(dir.path("probe")) < basis.length / 2;
    } finally {
      fs.closeSync(fd);
    }
  }

  it("releases what the COPYs passed read, and only that", async (t) => {
    if (!dropsPages()) return t.skip("the temp directory's filesystem keeps clean pages (tmpfs?)");
    const fd = cachedBasis("all");
    try {
      const release = new BasisRelease(fd);
      await follow(release);
      release.passed(8 * MiB); // half-way through the first COPY: its first 8 MiB
      assert.equal(cached(dir.path("all")), basis.length - 8 * MiB);
      release.passed(32 * MiB + 1024); // the whole new version
      // all but, with large folios, the few that straddle a COPY's unaligned edge
      const left = cached(dir.path("all"));
      assert.ok(left <= 8 * MiB, `the basis's pages are released (${left} bytes cached)`);
      assert.ok(fs.readFileSync(dir.path("all")).equals(basis), "its bytes are untouched");
    } finally {
      fs.closeSync(fd);
    }
  });

  it("releases nothing before the offset it starts at", async (t) => {
    if (!dropsPages()) return t.skip("the temp directory's filesystem keeps clean pages (tmpfs?)");
    const fd = cachedBasis("from");
    try {
      const release = new BasisRelease(fd, Infinity); // an in-place change: the pages are the file's
      await follow(release);
      release.passed(20 * MiB);
      assert.equal(cached(dir.path("from")), basis.length);
      release.startAt(16 * MiB); // rebuilt whole from here: the rebuild reads (and releases) the first 16 MiB
      release.passed(32 * MiB + 1024);
      const left = cached(dir.path("from"));
      assert.ok(left >= 16 * MiB - 8192 && left <= 24 * MiB, `the first COPY's pages stay, the second's go (${left} bytes cached)`);
    } finally {
      fs.closeSync(fd);
    }
  });
});
