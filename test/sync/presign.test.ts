/**
 * Signatures made ahead (`Presigned`): taken once, only for the very version signed, and the
 * same bytes as signing at transfer time.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { signatureOfFile } from "../../src/sync/delta/index.js";
import { SIGNATURE_OPTIONS } from "../../src/sync/delta-transfer.js";
import { MAX_PRESIGNED, Presigned } from "../../src/sync/presign.js";
import { randomBytes, tempDir } from "../helpers/tree.js";

const root = tempDir("imz-presign-");
after(() => fs.rmSync(root, { recursive: true, force: true }));

function openFds(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

describe("Presigned", () => {
  it("gives the signature a transfer would make, once, for the version it signed", async () => {
    const file = path.join(root, "a.bin");
    fs.writeFileSync(file, randomBytes(3 << 20, 1));
    const fds = openFds();
    const p = new Presigned(SIGNATURE_OPTIONS);
    p.sign(fs.openSync(file, "r"));
    const fd = fs.openSync(file, "r");
    try {
      const made = await p.take(fd);
      assert.ok(made?.equals(await signatureOfFile(fd, SIGNATURE_OPTIONS)), "same bytes as signing now");
      assert.equal(await p.take(fd), undefined, "taken at most once");
      assert.equal(p.hits, 1);
    } finally {
      fs.closeSync(fd);
    }
    await p.settle();
    assert.equal(openFds(), fds, "the signed file is closed");
  });

  it("does not describe a file changed or replaced since it was signed", async () => {
    const file = path.join(root, "b.bin");
    fs.writeFileSync(file, randomBytes(1 << 20, 2));
    const p = new Presigned(SIGNATURE_OPTIONS);
    p.sign(fs.openSync(file, "r"));
    await p.settle();
    p.sign(fs.openSync(file, "r"));
    fs.appendFileSync(file, "more");
    const fd = fs.openSync(file, "r");
    try {
      assert.equal(await p.take(fd), undefined, "appended to: another version");
    } finally {
      fs.closeSync(fd);
    }
    p.sign(fs.openSync(file, "r"));
    fs.writeFileSync(`${file}.new`, fs.readFileSync(file));
    fs.renameSync(`${file}.new`, file);
    const replaced = fs.openSync(file, "r");
    try {
      assert.equal(await p.take(replaced), undefined, "same bytes, another inode");
    } finally {
      fs.closeSync(replaced);
    }
    assert.equal(p.hits, 0);
    await p.settle();
  });

  it(`keeps at most ${MAX_PRESIGNED} signatures, closing what it does not sign`, async () => {
    const fds = openFds();
    const p = new Presigned(SIGNATURE_OPTIONS);
    const files = Array.from({ length: MAX_PRESIGNED + 3 }, (_, i) => {
      const f = path.join(root, `many-${i}`);
      fs.writeFileSync(f, randomBytes(100_000, 10 + i));
      return f;
    });
    for (const f of files) p.sign(fs.openSync(f, "r"));
    await p.settle();
    assert.equal(openFds(), fds);
    const last = fs.openSync(files.at(-1)!, "r");
    const first = fs.openSync(files[0]!, "r");
    try {
      assert.equal(await p.take(last), undefined, "past the bound: not signed");
    } finally {
      fs.closeSync(last);
      fs.closeSync(first);
    }
  });
});
