/**
 * Batched transfers (src/sync/batch-transfer.ts) on their own: what the receiver refuses before
 * staging anything (more bytes than the batch may carry, an entry over the size limit), and the
 * batcher's fallbacks (a batch failing as a whole — an older peer answers UNSUPPORTED — sends every
 * item alone; an entry the sender could not serve sends that item alone), and the sender stating a
 * file's row hash (not hashing it again) only while the file is as its row says. The contract suite
 * (peer-contract.test.ts) runs batches over every transport.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { ImzError, isImzError } from "../../src/errors.js";
import { hashBuffer } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { Applier } from "../../src/sync/apply.js";
import type { StagedContent } from "../../src/sync/content-stream.js";
import { BATCH_FILE_MAX, BATCH_ITEMS, Batcher, readBatch, receiveBatch, type BatchEntry, type ContentBatch } from "../../src/sync/batch-transfer.js";
import { scan } from "../../src/filter/scanner.js";
import { scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-batch-");
after(() => scratch.cleanup());

function holdingOf(): { set: FileSet; holding: Applier["holding"] } {
  const set = FileSet.init(scratch.dir(), { role: "holder" });
  return { set, holding: new Applier(set, { owner: false }).holding };
}

function batchOf(parts: Buffer[], entries: BatchEntry[]): ContentBatch {
  return {
    chunks: (async function* () {
      yield* parts;
    })(),
    done: Promise.resolve(entries),
  };
}

const entry = (b: Buffer): BatchEntry => ({ size: b.length, mtimeNs: "0", hash: hashBuffer(b) });

describe("batched transfers", () => {
  it("the receiver refuses more bytes than the batch may carry, and an entry over the size limit, staging nothing", async () => {
    const { set, holding } = holdingOf();
    try {
      const big = Buffer.alloc(BATCH_FILE_MAX + 1, 1);
      await assert.rejects(receiveBatch(holding, 1, batchOf([big], [entry(big)])), (err) => isImzError(err, "FRAME_TOO_LARGE"));
      const two = [Buffer.alloc(BATCH_FILE_MAX, 2), Buffer.alloc(1, 3)];
      // within the batch's total (2 items) but one entry over the per-file limit
      await assert.rejects(receiveBatch(holding, 2, batchOf([Buffer.concat(two)], [{ ...entry(two[0]!), size: BATCH_FILE_MAX + 1 }, { error: { code: "IO", message: "x" } }])), (err) => isImzError(err, "FRAME_BAD_HEADER"));
      assert.deepEqual(fs.readdirSync(set.tmpDir), [], "nothing staged");
      assert.throws(() => readBatch(holding, Array.from({ length: BATCH_ITEMS + 1 }, () => ({ fid: "root" }))), (err) => isImzError(err, "FRAME_BAD_HEADER"));
    } finally {
      set.close();
    }
  });

  it("a batch failing as a whole sends every item alone; an entry not served sends that item alone", async () => {
    const { set, holding } = holdingOf();
    try {
      const alone: string[] = [];
      const staged = (fid: string) => async (): Promise<StagedContent> => {
        alone.push(fid);
        const temp = holding.tempPath();
        fs.writeFileSync(temp, fid);
        return { temp, content: entry(Buffer.from(fid)) as StagedContent["content"], ticket: holding.stagedTicket(temp) };
      };
      const older = new Batcher(holding, () => {
        throw new ImzError("UNSUPPORTED", "the peer does not support 'backfetchBatch'");
      });
      const a = await Promise.all(["x:1", "x:2", "x:3"].map((fid) => older.fetch({ fid }, staged(fid))));
      assert.deepEqual(alone.sort(), ["x:1", "x:2", "x:3"]);
      assert.deepEqual(a.map((s) => fs.readFileSync(s.temp, "utf8")), ["x:1", "x:2", "x:3"]);

      alone.length = 0;
      const body = Buffer.from("served in the batch");
      const partial = new Batcher(holding, (items) => batchOf([body], items.map((i) => (i.fid === "y:1" ? entry(body) : { error: { code: "UNSUPPORTED", message: "too large for a batch" } }))));
      const b = await Promise.all(["y:1", "y:2"].map((fid) => partial.fetch({ fid }, staged(fid))));
      assert.deepEqual(alone, ["y:2"]);
      assert.equal(fs.readFileSync(b[0]!.temp, "utf8"), "served in the batch");
      assert.equal(b[0]!.content.hash, hashBuffer(body));
      for (const s of [...a, ...b]) fs.rmSync(s.temp);
      assert.deepEqual(fs.readdirSync(path.join(set.root, ".intermezzo", "tmp")), []);
    } finally {
      set.close();
    }
  });

  it("the sender states a file's row hash while the file is as its row says, hashes it otherwise; the receiver checks the bytes either way", async () => {
    const { set, holding } = holdingOf();
    try {
      for (const n of ["same", "stale", "edited"]) fs.writeFileSync(path.join(set.root, n), `content of ${n}`);
      await scan(set);
      const fid = (n: string): string => set.fsdb.childFid("root", n)!;
      // a row whose hash is not its file's, though its stat is: stated as the row says, and refused when received
      set.db.prepare(`UPDATE objects SET hash = ? WHERE fid = ?`).run(hashBuffer(Buffer.from("something else")), fid("stale"));
      // written since the scan (its ctime moved): hashed again
      fs.writeFileSync(path.join(set.root, "edited"), "edited since");
      const batch = readBatch(holding, ["same", "stale", "edited"].map((n) => ({ fid: fid(n) })));
      const entries = await batch.done;
      assert.deepEqual(
        entries.map((e) => ("error" in e ? e : e.hash)),
        [hashBuffer(Buffer.from("content of same")), hashBuffer(Buffer.from("something else")), hashBuffer(Buffer.from("edited since"))],
      );
      const staged = await receiveBatch(holding, 3, { chunks: batch.chunks, done: Promise.resolve(entries) });
      assert.deepEqual(staged.map((x) => x && fs.readFileSync(x.temp, "utf8")), ["content of same", undefined, "edited since"], "the stale row's item is sent alone");
      for (const x of staged) if (x) fs.rmSync(x.temp);
    } finally {
      set.close();
    }
  });

  it("a batch is staged on a worker thread: each item whose bytes have its hash in a private temp file, one that does not left out, and a failed creation leaves nothing staged", async () => {
    const { set, holding } = holdingOf();
    try {
      const bodies = [Buffer.from("first"), Buffer.from(""), Buffer.from("third, tampered"), Buffer.from("fourth")];
      const data = Buffer.concat(bodies);
      const files = bodies.map((b, k) => ({ at: bodies.slice(0, k).reduce((n, x) => n + x.length, 0), size: b.length, hash: hashBuffer(k === 2 ? Buffer.from("third") : b) }));
      const staged = await receiveBatch(holding, 5, batchOf([data], [entry(bodies[0]!), { error: { code: "ENOENT", message: "gone" } }, entry(bodies[1]!), { ...entry(bodies[2]!), hash: files[2]!.hash }, entry(bodies[3]!)]));
      assert.deepEqual(
        staged.map((s) => s && fs.readFileSync(s.temp, "utf8")),
        ["first", undefined, "", undefined, "fourth"],
        "not served and not matching: sent alone",
      );
      for (const s of staged) if (s) assert.equal(fs.statSync(s.temp).mode & 0o777, 0o600);
      assert.ok(staged[4]!.ticket > staged[0]!.ticket, "each staged file its durability ticket");
      for (const s of staged) if (s) fs.rmSync(s.temp);

      // the third file's name taken (temp names come from a counter): the batch throws and leaves nothing staged
      const probe = holding.tempPath();
      const counter = parseInt(probe.slice(probe.lastIndexOf("-") + 1), 36);
      const taken = path.join(set.tmpDir, `${path.basename(probe).slice(0, path.basename(probe).lastIndexOf("-"))}-${(counter + 3).toString(36)}`);
      fs.writeFileSync(taken, "someone else's");
      await assert.rejects(holding.writeTemps(data, files.filter((_, k) => k !== 2)), (err) => isImzError(err, "IO"));
      assert.deepEqual(fs.readdirSync(set.tmpDir), [path.basename(taken)], "the files it wrote removed, the other one kept");
      assert.equal(fs.readFileSync(taken, "utf8"), "someone else's");
    } finally {
      set.close();
    }
  });
});
