/**
 * File content moves as librsync deltas, through the CLI: a 1 KiB edit in the middle of a 64 MiB
 * file, on either side, moves well under 1 MiB and syncs exactly; a new file whose content already
 * exists in the receiving tree moves no content; a patch that fails its hash check is retried with
 * whole-file data; a safe save moves as a delta against the version it replaces; the sender trusts
 * the Fsdb's hash only while the file's identity and times are unchanged.
 */
import { signatureOf, type ContentAsk } from "../../src/sync/extents-transfer.js";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { scan } from "../../src/filter/scanner.js";
import { hashBuffer } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { receiveContent } from "../../src/sync/delta-transfer.js";
import { Holding } from "../../src/sync/holding.js";
import { recordedHash, type ContentStream } from "../../src/sync/content-stream.js";
import { readContent } from "../../src/sync/transfer.js";
import { syncJson, type SyncJson } from "../helpers/cli.js";
import { leftoverTemps, manifest, randomBytes, tempDir, writeLargeFile } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const MiB = 1 << 20;

/** Overwrites `n` bytes at the middle of `file` with fresh random bytes. */
function editMiddle(file: string, n: number, seed: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, randomBytes(n, seed), 0, n, Math.floor(fs.fstatSync(fd).size / 2));
  } finally {
    fs.closeSync(fd);
  }
}

/** A synced pair: `a` the replica, `b` the holder, holding `files` (name → size). */
async function syncedPair(files: Record<string, number>, args: string[] = []): Promise<{ a: string; b: string }> {
  const a = tempDir("imz-delta-");
  const b = tempDir("imz-delta-");
  dirs.push(a, b);
  let seed = 1;
  for (const [name, size] of Object.entries(files)) writeLargeFile(path.join(a, name), size, seed++);
  const first = await syncJson([...args, a, b]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(manifest(b), manifest(a));
  return { a, b };
}

function moved(j: SyncJson): { content: number; wire: number } {
  return { content: j.bytesSent + j.bytesReceived, wire: j.wire.sent + j.wire.received };
}

/** Syncs and checks the trees are identical, with no temp files left. */
async function syncExact(a: string, b: string, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<SyncJson> {
  const r = await syncJson([...args, a, b], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(manifest(b), manifest(a));
  assert.deepEqual([...leftoverTemps(a), ...leftoverTemps(b)], []);
  return r.json!;
}

describe("content moves as deltas", () => {
  for (const transport of ["stdio", "in-process"]) {
    it(`a 1 KiB edit in the middle of a 64 MiB file, on the replica then on the holder, moves under 1 MiB (${transport})`, async () => {
      const args = ["--transport", transport];
      const { a, b } = await syncedPair({ "big.bin": 64 * MiB }, args);

      editMiddle(path.join(a, "big.bin"), 1024, 101);
      const up = await syncExact(a, b, args);
      assert.equal(up.filesSent, 1, "backfetched once");
      assert.ok(moved(up).content < MiB, `backfetch moved ${moved(up).content} content bytes`);
      if (transport === "stdio") assert.ok(moved(up).wire < MiB, `backfetch moved ${moved(up).wire} wire bytes`);

      editMiddle(path.join(b, "big.bin"), 1024, 102);
      const down = await syncExact(a, b, args);
      assert.equal(down.filesReceived, 1, "fetched once");
      assert.ok(moved(down).content < MiB, `fetch moved ${moved(down).content} content bytes`);
      if (transport === "stdio") assert.ok(moved(down).wire < MiB, `fetch moved ${moved(down).wire} wire bytes`);
    });
  }

  it("a new file whose content exists elsewhere in the receiving tree is copied there, not sent", async () => {
    const wire = ["--transport", "stdio"];
    const { a, b } = await syncedPair({ "big.bin": 8 * MiB, "small.txt": 100 }, wire);
    fs.mkdirSync(path.join(a, "sub"));
    fs.copyFileSync(path.join(a, "big.bin"), path.join(a, "sub", "copy.bin"));
    const up = await syncExact(a, b, wire);
    assert.equal(up.bytesSent, 0, "nothing backfetched");
    assert.ok(moved(up).wire < 64 << 10, `copy on the replica moved ${moved(up).wire} wire bytes`);

    fs.copyFileSync(path.join(b, "big.bin"), path.join(b, "other.bin"));
    const down = await syncExact(a, b, wire);
    assert.equal(down.bytesReceived, 0, "nothing fetched");
    assert.ok(moved(down).wire < 64 << 10, `copy on the holder moved ${moved(down).wire} wire bytes`);
  });

  it("a safe save (a modified copy renamed over the original) moves as a delta against the version it replaces, both ways", async () => {
    const { a, b } = await syncedPair({ "doc.bin": 16 * MiB });
    const safeSave = (root: string, seed: number): void => {
      const file = path.join(root, "doc.bin");
      fs.copyFileSync(file, path.join(root, "doc.bin~"));
      editMiddle(path.join(root, "doc.bin~"), 1024, seed);
      fs.renameSync(path.join(root, "doc.bin~"), file);
    };

    safeSave(a, 301);
    const up = await syncExact(a, b);
    assert.ok(moved(up).content < MiB, `backfetch of a safe save moved ${moved(up).content} content bytes`);

    safeSave(b, 302);
    const down = await syncExact(a, b);
    assert.ok(moved(down).content < MiB, `fetch of a safe save moved ${moved(down).content} content bytes`);
  });
});

describe("receiveContent", () => {
  /** A file set at a fresh directory holding `name` with `data`, scanned; its Holding and the file's fid. */
  async function fileSetWith(name: string, data: Buffer): Promise<{ set: FileSet; holding: Holding; fid: string; file: string }> {
    const root = tempDir("imz-recv-");
    dirs.push(root);
    const file = path.join(root, name);
    fs.writeFileSync(file, data);
    const set = FileSet.init(root, { role: "holder" });
    await scan(set);
    return { set, holding: new Holding(set), fid: set.fsdb.child(ROOT_FID, name)!.fid, file };
  }

  it("retries with whole-file data when the patch fails its hash check (the basis changed after it was signed)", async () => {
    const old = randomBytes(4 * MiB, 401);
    const edited = Buffer.from(old);
    randomBytes(1024, 402).copy(edited, MiB);
    const receiver = await fileSetWith("f.bin", old);
    const sender = await fileSetWith("f.bin", edited);
    const asked: boolean[] = [];
    const request = (ask?: ContentAsk): ContentStream => {
      const signature = signatureOf(ask);
      asked.push(signature !== undefined);
      // the receiver's basis changes between its signature and the patch, far from the edit
      if (signature !== undefined) fs.writeFileSync(receiver.file, randomBytes(4096, 403), { flag: "r+" });
      return readContent(sender.holding, sender.fid, signature);
    };
    try {
      const staged = await receiveContent(receiver.holding, { fid: receiver.fid }, request);
      assert.deepEqual(asked, [true, false], "a delta, then whole data");
      assert.ok(fs.readFileSync(staged.temp).equals(edited));
      assert.equal(staged.content.hash, hashBuffer(edited));
      fs.rmSync(staged.temp);
    } finally {
      receiver.set.close();
      sender.set.close();
    }
  });

  it("the sender's description uses the Fsdb hash only while size, mtime, ctime and inode are those it was taken with", async () => {
    const { set, fid, file } = await fileSetWith("g.bin", randomBytes(100_000, 501));
    try {
      const obj = set.fsdb.get(fid);
      assert.equal(recordedHash(obj, fs.statSync(file, { bigint: true })), obj!.hash);
      fs.chmodSync(file, 0o640); // moves ctime only
      assert.equal(recordedHash(obj, fs.statSync(file, { bigint: true })), undefined);
      assert.equal(recordedHash({ ...obj!, hash: "" }, fs.statSync(file, { bigint: true })), undefined);
    } finally {
      set.close();
    }
  });
});
