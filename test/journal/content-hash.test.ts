/**
 * The content hash (the addon's, through Node's OpenSSL on worker threads; libb2 before) is
 * BLAKE2b-512 truncated to 256 bits, the value `crypto.createHash` gives: hashes recorded with
 * either implementation, or by either side, agree.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { BackgroundHasher, digestHex, EMPTY_HASH, hashBuffer, hashFile, HASH_HEX_LENGTH, newContentHasher } from "../../src/journal/content-hash.js";
import { hashFd } from "../../src/sync/delta/native.js";
import { randomBytes, tempDir } from "../helpers/tree.js";

const root = tempDir("imz-hash-");
after(() => fs.rmSync(root, { recursive: true, force: true }));

const reference = (data: Uint8Array): string => createHash("blake2b512").update(data).digest("hex").slice(0, HASH_HEX_LENGTH);

describe("content hash", () => {
  it("equals OpenSSL's BLAKE2b-512, truncated, at block boundaries and for any split into updates", () => {
    assert.equal(EMPTY_HASH, reference(new Uint8Array(0)));
    for (const n of [0, 1, 127, 128, 129, 255, 256, 65535, 65536, 65537, (1 << 20) + 3]) {
      const data = randomBytes(n, n);
      assert.equal(hashBuffer(data), reference(data), `${n} bytes`);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.array(fc.nat(4096), { maxLength: 8 }), (data, cuts) => {
        const h = newContentHasher();
        let at = 0;
        for (const c of [...cuts].sort((a, b) => a - b)) {
          const end = Math.min(c, data.length);
          if (end < at) continue;
          h.update(data.subarray(at, end));
          at = end;
        }
        h.update(data.subarray(at));
        assert.equal(digestHex(h), reference(data));
      }),
    );
  });

  it("hashes files small (read at once) and large (pread on a worker), whatever the descriptor's position", async () => {
    for (const n of [0, 5, 65535, 65536, (3 << 20) + 17]) {
      const file = path.join(root, `f${n}`);
      const data = randomBytes(n, 7 + n);
      fs.writeFileSync(file, data);
      assert.equal(await hashFile(file), reference(data), `${n} bytes`);
    }
  });

  it("a background hasher (worker threads, the first MiB at once) gives the same hash for any split", async () => {
    const data = randomBytes(3 << 20, 77);
    for (const cut of [1000, 4096, 1 << 20, (1 << 20) + 1, 3 << 20]) {
      const h = new BackgroundHasher();
      for (let at = 0; at < data.length; at += cut) await h.update(data.subarray(at, at + cut)); // as a writer waits when told
      assert.equal(await h.digestHex(), hashBuffer(data), `chunks of ${cut}`);
    }
    assert.equal(await new BackgroundHasher().digestHex(), EMPTY_HASH);
  });

  it("refuses a second digest and an update after it", () => {
    const h = newContentHasher().update(Buffer.from("x"));
    digestHex(h);
    assert.throws(() => h.digest(), /twice/);
    assert.throws(() => h.update(Buffer.from("y")), /after digest/);
  });

  it("reports an unreadable file as the errno error", async () => {
    await assert.rejects(hashFile(path.join(root, "missing")), (err: NodeJS.ErrnoException) => err.code === "ENOENT");
    await assert.rejects(hashFile(root), (err: NodeJS.ErrnoException) => err.code === "EISDIR");
    // the worker-thread path (large files) names the file too
    const fd = fs.openSync(root, "r");
    try {
      await assert.rejects(hashFd(fd, root), (err: NodeJS.ErrnoException) => err.code === "EISDIR" && err.path === root && err.message.includes(root));
    } finally {
      fs.closeSync(fd);
    }
  });
});
