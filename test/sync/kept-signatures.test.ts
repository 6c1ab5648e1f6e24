/**
 * Signatures kept with the version they describe (`kept-signatures.ts`): the side receiving a large
 * file's version keeps `rdiff signature`'s bytes for it, replaced by the next version's; the next
 * delta uses it; and what a crash can leave — the previous version's signature, a torn one — is
 * never used, while a stale one that did pass its key would cost a retry, never wrong data.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { resolveSignatureOptions, signatureOfFile } from "../../src/sync/delta/index.js";
import { SIGNATURE_OPTIONS } from "../../src/sync/delta-transfer.js";
import { keepSignature, keptSignature, KEEP_SIGNATURE_MIN, SIGNATURES_DIR } from "../../src/sync/kept-signatures.js";
import { rdiff } from "../delta/helpers.js";
import { syncJson, type SyncJson } from "../helpers/cli.js";
import { leftoverTemps, manifest, randomBytes, tempDir, writeLargeFile } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const MiB = 1 << 20;
const SIZE = 16 * MiB;

function editAt(file: string, at: number, n: number, seed: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, randomBytes(n, seed), 0, n, at);
  } finally {
    fs.closeSync(fd);
  }
}

async function syncExact(a: string, b: string): Promise<SyncJson> {
  const r = await syncJson([a, b]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(manifest(b), manifest(a));
  assert.deepEqual([...leftoverTemps(a), ...leftoverTemps(b)], []);
  return r.json!;
}

function contentMoved(j: SyncJson): number {
  return j.bytesSent + j.bytesReceived;
}

/** The signature kept in `root` for the file `name`, when its key holds for the file as it is. */
function kept(root: string, name: string): Buffer | undefined {
  const set = FileSet.open(root);
  const fd = fs.openSync(path.join(root, name), "r");
  try {
    return keptSignature(set, set.fsdb.child(ROOT_FID, name)!.fid, fd, SIGNATURE_OPTIONS);
  } finally {
    fs.closeSync(fd);
    set.close();
  }
}

/** The raw kept signature file of `name` in `root` (whatever it holds). */
function keptFile(root: string, name: string): string {
  const set = FileSet.open(root);
  try {
    return path.join(root, ".intermezzo", SIGNATURES_DIR, set.fsdb.child(ROOT_FID, name)!.fid.replace(":", "-"));
  } finally {
    set.close();
  }
}

/** `rdiff signature` of `file` with the sync's parameters. */
async function rdiffSignature(file: string, work: string): Promise<Buffer> {
  const args = resolveSignatureOptions(fs.statSync(file).size, SIGNATURE_OPTIONS);
  const out = path.join(work, "rdiff.sig");
  fs.rmSync(out, { force: true });
  await rdiff("signature", "-H", "md4", "-R", "rabinkarp", "-b", String(args.blockLength), "-S", String(args.strongLength), file, out);
  return fs.readFileSync(out);
}

/** A synced pair: `a` the replica, `b` the holder, with `big.bin` (SIZE) and `small.bin` (under the threshold). */
async function syncedPair(): Promise<{ a: string; b: string; work: string }> {
  const [a, b, work] = [tempDir("imz-kept-"), tempDir("imz-kept-"), tempDir("imz-kept-")];
  dirs.push(a, b, work);
  writeLargeFile(path.join(a, "big.bin"), SIZE, 1);
  writeLargeFile(path.join(a, "small.bin"), KEEP_SIGNATURE_MIN / 2, 2);
  await syncExact(a, b);
  return { a, b, work };
}

describe("kept signatures", () => {
  it("the receiver keeps rdiff's signature of each large version it receives, whole or patched, either way; the next version's replaces it", async () => {
    const { a, b, work } = await syncedPair();
    const first = kept(b, "big.bin");
    assert.ok(first?.equals(await rdiffSignature(path.join(b, "big.bin"), work)), "the first copy's signature, as rdiff makes it");
    assert.equal(kept(b, "small.bin"), undefined, "none for a file under the threshold");
    assert.equal(kept(a, "big.bin"), undefined, "none on the side that wrote the file itself");

    editAt(path.join(a, "big.bin"), 5 * MiB, 1024, 11);
    const up = await syncExact(a, b);
    assert.ok(contentMoved(up) < MiB, `a small edit moved ${contentMoved(up)} bytes`);
    const second = kept(b, "big.bin");
    assert.ok(second?.equals(await rdiffSignature(path.join(b, "big.bin"), work)), "the patched version's signature replaced it");
    assert.ok(!second!.equals(first!));

    editAt(path.join(b, "big.bin"), 9 * MiB, 1024, 12);
    const down = await syncExact(a, b);
    assert.ok(contentMoved(down) < MiB, `a small edit on the holder moved ${contentMoved(down)} bytes`);
    assert.ok(kept(a, "big.bin")?.equals(await rdiffSignature(path.join(a, "big.bin"), work)), "the replica keeps what it received");
    assert.equal(kept(b, "big.bin"), undefined, "the holder's own new version has none (its old one is not used)");
  });

  it("a file that grows a little keeps its blocks: the appended version is re-signed with its basis's lengths, rdiff's bytes for them", async () => {
    const { a, b, work } = await syncedPair();
    const first = kept(b, "big.bin")!;
    fs.appendFileSync(path.join(a, "big.bin"), randomBytes(300_000, 41));
    const r = await syncExact(a, b);
    assert.ok(contentMoved(r) < MiB, `an append moved ${contentMoved(r)} bytes`);
    const grown = kept(b, "big.bin");
    assert.ok(grown !== undefined, "kept, and its key holds for the grown file");
    assert.ok(grown.subarray(0, 12).equals(first.subarray(0, 12)), "same format and lengths as the basis's");
    assert.notEqual(resolveSignatureOptions(SIZE + 300_000, SIGNATURE_OPTIONS).blockLength, first.readUInt32BE(4), "though a fresh one would choose another block length");
    const out = path.join(work, "grown.sig");
    await rdiff("signature", "-H", "md4", "-R", "rabinkarp", "-b", String(first.readUInt32BE(4)), "-S", String(first.readUInt32BE(8)), path.join(b, "big.bin"), out);
    assert.ok(grown.equals(fs.readFileSync(out)));
  });

  it("a copy of a file with a kept signature, made from the local file with the same content, keeps it too", async () => {
    const { a, b, work } = await syncedPair();
    fs.copyFileSync(path.join(a, "big.bin"), path.join(a, "copy.bin"));
    const r = await syncExact(a, b);
    assert.equal(contentMoved(r), 0, "copied locally, nothing sent");
    assert.ok(kept(b, "copy.bin")?.equals(await rdiffSignature(path.join(b, "copy.bin"), work)));
  });

  it("a stale signature that passed its key would cost a retry, never wrong data", async () => {
    const { a, b } = await syncedPair();
    editAt(path.join(a, "big.bin"), 3 * MiB, 4096, 21);
    // The worst case: the holder's kept signature, with a valid key, describes other bytes (here
    // the replica's new version), so the delta is all copies from a basis that does not hold them.
    const set = FileSet.open(b);
    try {
      const o = set.fsdb.child(ROOT_FID, "big.bin")!;
      keepSignature(set, o.fid, o.hash, await signatureOfFile(path.join(a, "big.bin"), SIGNATURE_OPTIONS));
    } finally {
      set.close();
    }
    const r = await syncExact(a, b);
    assert.ok(contentMoved(r) >= SIZE, `the patch failed its hash check and was retried whole (${contentMoved(r)} bytes)`);
  });

  it("what a crash can leave — the previous version's signature, a torn one — is not used", async () => {
    const { a, b, work } = await syncedPair();
    const file = keptFile(b, "big.bin");
    const v1 = fs.readFileSync(file);
    editAt(path.join(a, "big.bin"), 2 * MiB, 1024, 31);
    await syncExact(a, b);
    // A crash after version 2 was installed but before its signature replaced version 1's.
    fs.writeFileSync(file, v1);
    assert.equal(kept(b, "big.bin"), undefined, "version 1's signature does not describe version 2");
    assert.equal(fs.existsSync(file), false, "and is removed");
    fs.writeFileSync(file, v1);
    editAt(path.join(a, "big.bin"), 12 * MiB, 1024, 32);
    const r = await syncExact(a, b);
    assert.ok(contentMoved(r) < MiB, `signed afresh, no retry: ${contentMoved(r)} bytes`);
    assert.ok(kept(b, "big.bin")?.equals(await rdiffSignature(path.join(b, "big.bin"), work)));

    // A power loss may leave a file renamed into place but not all written.
    const whole = fs.readFileSync(file);
    fs.writeFileSync(file, whole.subarray(0, whole.length >> 1));
    assert.equal(kept(b, "big.bin"), undefined, "a torn signature is not used");
    const garbled = Buffer.from(whole);
    garbled[garbled.length - 1]! ^= 1;
    fs.writeFileSync(file, garbled);
    assert.equal(kept(b, "big.bin"), undefined, "nor one with a flipped byte");
  });
});
