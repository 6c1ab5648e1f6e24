/**
 * No scan hash of a large file at sync time: a sync's scan of the replica journals a changed file
 * of HASH_AT_SEND_MIN or more with its content hash unknown, the delta that sends it hashes it, the
 * receiver installs only what that hash describes, and the sender learns the hash for its Fsdb.
 * A scan outside a sync (and the holder's) still hashes. A large new file is left unhashed too
 * when the holder's tree is empty (a first copy), and hashed as it is sent whole; when the holder
 * has files it is hashed at the scan, so an identical one there is adopted.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { scan } from "../../src/filter/scanner.js";
import { digestHex, hashFile, newContentHasher } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { Applier } from "../../src/sync/apply.js";
import { HASH_AT_SEND_MIN } from "../../src/sync/delta-transfer.js";
import { hashUnknownCreates, readContent } from "../../src/sync/transfer.js";
import { syncJson } from "../helpers/cli.js";
import { leftoverTemps, manifest, randomBytes, tempDir, writeLargeFile } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const MiB = 1 << 20;

function editAt(file: string, at: number, n: number, seed: number): void {
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, randomBytes(n, seed), 0, n, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** The Fsdb's content hash of `name` in the file set at `root`. */
function fsdbHash(root: string, name: string): string {
  const set = FileSet.open(root);
  try {
    return set.fsdb.child(ROOT_FID, name)!.hash;
  } finally {
    set.close();
  }
}

/** The content hash of the create of `name` in the server log of the holder at `root`. */
function loggedCreateHash(root: string, name: string): string | undefined {
  const set = FileSet.open(root);
  try {
    const r = set.log.since(0, 1000).find((x) => x.record.op === "create" && x.record.name === name)?.record;
    return r?.op === "create" ? r.content?.hash : undefined;
  } finally {
    set.close();
  }
}

describe("hashing at send time", () => {
  it("a sync's scan leaves a changed large file unhashed; the scan outside a sync hashes it", async () => {
    const root = tempDir("imz-hashsend-");
    dirs.push(root);
    writeLargeFile(path.join(root, "big.bin"), HASH_AT_SEND_MIN, 1);
    const set = FileSet.init(root, { role: "replica" });
    try {
      await scan(set);
      editAt(path.join(root, "big.bin"), MiB, 100, 2);
      const deferred = await scan(set, { hashAtSendFrom: HASH_AT_SEND_MIN });
      assert.equal(deferred.hashedBytes, 0, "not hashed");
      const close = set.cml.all().find((r) => r.op === "close");
      assert.equal(close?.op === "close" ? close.content.hash : undefined, "", "journaled with its hash unknown");
      editAt(path.join(root, "big.bin"), 2 * MiB, 100, 3);
      const hashed = await scan(set);
      assert.equal(hashed.hashedBytes, HASH_AT_SEND_MIN, "an ordinary scan hashes");
      assert.equal(set.fsdb.child(ROOT_FID, "big.bin")!.hash, await hashFile(path.join(root, "big.bin")));
    } finally {
      set.close();
    }
  });

  it("a large new file is left unhashed only when the scan is told nothing can be identical to it", async () => {
    const root = tempDir("imz-hashsend-");
    dirs.push(root);
    writeLargeFile(path.join(root, "big.bin"), HASH_AT_SEND_MIN, 11);
    writeLargeFile(path.join(root, "small.bin"), HASH_AT_SEND_MIN - 1, 12);
    const set = FileSet.init(root, { role: "replica" });
    try {
      let asked = 0;
      const r = await scan(set, { hashAtSendFrom: HASH_AT_SEND_MIN, newHashedAtSend: async () => (asked++, true) });
      assert.equal(asked, 1, "asked once, for the large file only");
      const creates = new Map(set.cml.all().flatMap((x) => (x.op === "create" ? [[x.name, x.content?.hash] as const] : [])));
      assert.equal(creates.get("big.bin"), "", "journaled with its hash unknown");
      assert.equal(creates.get("small.bin"), await hashFile(path.join(root, "small.bin")), "a file under the threshold is hashed");
      assert.equal(r.hashedBytes, HASH_AT_SEND_MIN - 1);
    } finally {
      set.close();
    }
    const other = tempDir("imz-hashsend-");
    dirs.push(other);
    writeLargeFile(path.join(other, "big.bin"), HASH_AT_SEND_MIN, 13);
    const set2 = FileSet.init(other, { role: "replica" });
    try {
      await scan(set2, { hashAtSendFrom: HASH_AT_SEND_MIN, newHashedAtSend: async () => false });
      const create = set2.cml.all().find((x) => x.op === "create");
      assert.equal(create?.op === "create" ? create.content?.hash : undefined, await hashFile(path.join(other, "big.bin")), "hashed at the scan");
    } finally {
      set2.close();
    }
  });

  for (const transport of ["in-process", "stdio"]) {
    it(`a first copy into an empty holder hashes a large new file as it sends it; both sides end with its hash (${transport})`, async () => {
      const [a, b] = [tempDir("imz-hashsend-"), tempDir("imz-hashsend-")];
      dirs.push(a, b);
      writeLargeFile(path.join(a, "big.bin"), 20 * MiB, 14);
      const r = await syncJson(["--transport", transport, a, b]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(manifest(b), manifest(a));
      assert.deepEqual([...leftoverTemps(a), ...leftoverTemps(b)], []);
      const hash = await hashFile(path.join(a, "big.bin"));
      assert.equal(loggedCreateHash(b, "big.bin"), "", "the create reached the holder unhashed");
      assert.equal(fsdbHash(a, "big.bin"), hash, "the replica learned the hash it computed while sending");
      assert.equal(fsdbHash(b, "big.bin"), hash, "the holder's Fsdb has the content's hash");
    });

    it(`a large new file identical to the holder's at its name is adopted, not sent nor a conflict (${transport})`, async () => {
      const [a, b] = [tempDir("imz-hashsend-"), tempDir("imz-hashsend-")];
      dirs.push(a, b);
      writeLargeFile(path.join(a, "big.bin"), 20 * MiB, 15);
      fs.copyFileSync(path.join(a, "big.bin"), path.join(b, "big.bin"));
      const r = await syncJson(["--transport", transport, a, b]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.json!.conflicts, []);
      assert.ok(r.json!.bytesSent + r.json!.bytesReceived < MiB, "nothing moved");
      assert.deepEqual(fs.readdirSync(b).filter((n) => n !== ".intermezzo"), ["big.bin"]);
      assert.equal(fsdbHash(b, "big.bin"), await hashFile(path.join(a, "big.bin")));
    });
  }

  it("a whole-content stream is marked hashed as sent only when its sender hashes the chunks it yields; that hash is the file's", async () => {
    const root = tempDir("imz-hashsend-");
    dirs.push(root);
    writeLargeFile(path.join(root, "big.bin"), HASH_AT_SEND_MIN, 17);
    const set = FileSet.init(root, { role: "replica" });
    try {
      await scan(set, { hashAtSendFrom: HASH_AT_SEND_MIN, newHashedAtSend: async () => true });
      const fid = set.fsdb.child(ROOT_FID, "big.bin")!.fid;
      const holding = new Applier(set, { owner: false }).holding;
      const stream = readContent(holding, fid);
      assert.equal(stream.hashedAsSent, true);
      const h = newContentHasher();
      for await (const chunk of stream.chunks) h.update(chunk);
      const expected = await hashFile(path.join(root, "big.bin"));
      assert.equal(digestHex(h), expected, "the chunks are the file");
      assert.equal((await stream.done).hash, expected, "the description's hash is theirs");
      assert.equal(set.fsdb.get(fid)!.hash, expected, "and the sender learned it");
      const again = readContent(holding, fid);
      assert.equal(again.hashedAsSent, undefined, "a recorded hash is not computed over the chunks: the receiver checks them");
      for await (const chunk of again.chunks) void chunk;
    } finally {
      set.close();
    }
  });

  it("hashUnknownCreates hashes a file whose pending create left its hash unknown, record and row; with an empty CML it reads nothing", async () => {
    const root = tempDir("imz-hashsend-");
    dirs.push(root);
    writeLargeFile(path.join(root, "big.bin"), HASH_AT_SEND_MIN, 21);
    fs.writeFileSync(path.join(root, "small.txt"), "small");
    const set = FileSet.init(root, { role: "replica" });
    try {
      await scan(set, { hashAtSendFrom: HASH_AT_SEND_MIN, newHashedAtSend: async () => true });
      const big = set.fsdb.child(ROOT_FID, "big.bin")!;
      assert.equal(big.hash, "");
      await hashUnknownCreates(set);
      const hash = await hashFile(path.join(root, "big.bin"));
      assert.equal(set.fsdb.must(big.fid).hash, hash, "the row has the hash");
      assert.deepEqual(set.cml.about(big.fid).map((r) => (r.op === "create" ? r.content?.hash : r.op)), [hash], "and so has its create");
      // no pending record: a row without a hash (here made so) is left for the next send, as before
      set.cml.drop(set.cml.all().map((r) => r.seq));
      set.fsdb.put({ ...set.fsdb.must(big.fid), hash: "" });
      await hashUnknownCreates(set);
      assert.equal(set.fsdb.must(big.fid).hash, "");
    } finally {
      set.close();
    }
  });

  it("a create left unhashed, reaching a holder that now has the same file, is hashed first and adopted, not a conflict", async () => {
    const [a, b] = [tempDir("imz-hashsend-"), tempDir("imz-hashsend-")];
    dirs.push(a, b);
    writeLargeFile(path.join(a, "big.bin"), 20 * MiB, 16);
    // as a first copy into an empty holder journals it, then killed before anything was sent
    const set = FileSet.init(a, { role: "replica" });
    try {
      await scan(set, { hashAtSendFrom: HASH_AT_SEND_MIN, newHashedAtSend: async () => true });
      assert.equal(set.fsdb.child(ROOT_FID, "big.bin")!.hash, "");
    } finally {
      set.close();
    }
    fs.copyFileSync(path.join(a, "big.bin"), path.join(b, "big.bin"));
    const r = await syncJson([a, b]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json!.conflicts, []);
    assert.ok(r.json!.bytesSent + r.json!.bytesReceived < MiB, "nothing moved");
    assert.deepEqual(manifest(b), manifest(a));
    const hash = await hashFile(path.join(a, "big.bin"));
    assert.equal(fsdbHash(a, "big.bin"), hash, "the replica hashed it before reintegrating");
  });

  for (const transport of ["in-process", "stdio"]) {
    it(`the delta hashes what it sends; both sides end with the right hash, edited on either side (${transport})`, async () => {
      const [a, b] = [tempDir("imz-hashsend-"), tempDir("imz-hashsend-")];
      dirs.push(a, b);
      const args = ["--transport", transport];
      writeLargeFile(path.join(a, "big.bin"), 24 * MiB, 4);
      assert.equal((await syncJson([...args, a, b])).code, 0);
      for (const [side, seed] of [[a, 5], [b, 6], [a, 7]] as const) {
        editAt(path.join(side, "big.bin"), (seed % 3) * 7 * MiB, 4096, seed);
        const r = await syncJson([...args, a, b]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.json!.bytesSent + r.json!.bytesReceived < MiB, "moved as a delta");
        assert.deepEqual(manifest(b), manifest(a));
        assert.deepEqual([...leftoverTemps(a), ...leftoverTemps(b)], []);
        const hash = await hashFile(path.join(a, "big.bin"));
        assert.equal(fsdbHash(a, "big.bin"), hash, "the replica's Fsdb has the content's hash");
        assert.equal(fsdbHash(b, "big.bin"), hash, "the holder's Fsdb has the content's hash");
      }
    });
  }
});
