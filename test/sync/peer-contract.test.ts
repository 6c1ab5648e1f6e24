/**
 * The one contract suite of {@link HolderPeer} (STYLE 12), run over every transport a replica
 * reaches its holder by: in-process (`LentoServer`), a local `serve --stdio` child, an SSH exec of
 * `serve --stdio` through a real OpenSSH sshd, and Lento's own listener (a real
 * `intermezzo serve --listen` child). Each transport runs the same cases: the peer contract call
 * by call (attach first; applied; reintegrate with backfetch through the content source; updates
 * in pages; fetch; close; after an error the peer is unusable and the journals stay consistent),
 * then whole syncs through `syncFileSets` checked by manifests.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { scan } from "../../src/filter/scanner.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID, type JournalRecord } from "../../src/journal/records.js";
import { Applier } from "../../src/sync/apply.js";
import { connectLocal, connectRemote } from "../../src/sync/connect.js";
import type { AttachRequest, ContentSource, HolderPeer } from "../../src/sync/peer.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets, type SyncOptions, type SyncReport } from "../../src/sync/sync.js";
import { readContent } from "../../src/sync/transfer.js";
import { BATCH_FILE_MAX, readBatch, type BatchRequest, type ContentBatch } from "../../src/sync/batch-transfer.js";
import { hashBuffer } from "../../src/journal/content-hash.js";
import { clientHome, startListenerChild, type ClientHome, type ListenerChild } from "../helpers/remote.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { leftoverTemps, makeVariedTree, manifest, randomBytes, tempDir } from "../helpers/tree.js";

/** One way of reaching a holder directory. */
interface Transport {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A fresh, empty holder directory this transport can reach. */
  holderDir(): string;
  connect(root: string): Promise<HolderPeer>;
}

const dirs: string[] = [];
function dir(prefix = "imz-pc-"): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

let sshd: TestSshd;
let home: ClientHome;
before(async () => {
  sshd = await startSshd();
  home = clientHome(dir("imz-pc-home-"), sshd);
});
after(async () => {
  await sshd?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Holder directories Lento's listener serves (it is told its directories when it starts). */
const LISTENER_POOL = 24;

function listenerTransport(): Transport {
  let listener: ListenerChild | undefined;
  let pool: string[] = [];
  const nameOf = new Map<string, string>();
  return {
    name: "Lento's listener (serve --listen child)",
    async start() {
      const base = dir("imz-pc-lento-");
      pool = Array.from({ length: LISTENER_POOL }, (_, i) => path.join(base, `fs${i}`));
      for (const d of pool) fs.mkdirSync(d);
      listener = await startListenerChild(pool, base, `${sshd.userKeyPath}.pub`);
      listener.names.forEach((n, i) => nameOf.set(pool[i]!, n));
      fs.appendFileSync(home.knownHosts, `${listener.knownHostsLine}\n`);
    },
    async stop() {
      await listener?.stop();
    },
    holderDir() {
      const d = pool.shift();
      if (d === undefined) throw new Error("listener pool exhausted: raise LISTENER_POOL");
      return d;
    },
    connect(root) {
      const fileset = nameOf.get(root);
      if (fileset === undefined) throw new Error(`${root} is not served by the listener`);
      return connectRemote({ kind: "lento", user: "alice", host: "127.0.0.1", port: listener!.port, fileset }, home.remote({ remoteCommand: undefined }));
    },
  };
}

const noop = async (): Promise<void> => undefined;
const TRANSPORTS: Transport[] = [
  { name: "in-process (LentoServer)", start: noop, stop: noop, holderDir: () => dir(), connect: async (root) => new LentoServer(root, { owner: true }) },
  { name: "stdio (serve --stdio child)", start: noop, stop: noop, holderDir: () => dir(), connect: (root) => connectLocal(root, "stdio", true) },
  {
    name: "SSH exec through OpenSSH sshd",
    start: noop,
    stop: noop,
    holderDir: () => dir(),
    connect: (root) => connectRemote({ kind: "ssh", user: "root", host: "127.0.0.1", port: sshd.port, path: root }, home.remote()),
  },
  listenerTransport(),
];

const SYNC: SyncOptions = { dryRun: false, maxDeleteFraction: 0.5, force: false, owner: true, mirror: false, replicaIsSrc: true };

function write(root: string, rel: string, data: string | Buffer): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), data);
}

function attachReq(set: FileSet, filesetId: string | null = null): AttachRequest {
  return { replica: set.replicaId, filesetId, expectHolder: false, scan: { scan: true, maxDeleteFraction: 0.5, force: false }, dryRun: false };
}

/** A new replica holding `files`, scanned into its CML (close it when done). */
async function scannedReplica(files: Record<string, string | Buffer>): Promise<{ root: string; set: FileSet; records: JournalRecord[] }> {
  const root = dir("imz-pc-replica-");
  for (const [rel, data] of Object.entries(files)) write(root, rel, data);
  const set = FileSet.init(root, { role: "replica", filesetId: "" });
  await scan(set);
  return { root, set, records: set.cml.all() };
}

/** The replica's content source, noting which fids the holder backfetched. */
function sourceOf(set: FileSet, asked: string[]): ContentSource {
  const holding = new Applier(set, { owner: true }).holding;
  return (fid, signature) => {
    asked.push(fid);
    return readContent(holding, fid, signature);
  };
}

function hasContent(r: JournalRecord): boolean {
  return r.op === "close" || (r.op === "create" && r.content !== undefined && r.content.size > 0);
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isImzError(err), `expected an ImzError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

async function* upper(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const c of chunks) yield Buffer.from(c.toString().toUpperCase());
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

for (const t of TRANSPORTS) {
  describe(`HolderPeer contract: ${t.name}`, () => {
    before(() => t.start());
    after(() => t.stop());

    const sync = async (replica: string, holder: string): Promise<SyncReport> => syncFileSets(replica, await t.connect(holder), SYNC);

    it("attach comes first: a request before it is USAGE and the holder is left untouched", async () => {
      const holder = t.holderDir();
      write(holder, "x", "x");
      const peer = await t.connect(holder);
      try {
        await rejectsWith(peer.updates(0, 10), "USAGE");
        await rejectsWith(peer.presign(["root"]), "USAGE");
      } finally {
        await peer.close();
      }
      assert.equal(FileSet.exists(holder), false, "no file set was created");
    });

    it("attach locks and scans the holder and reports its file set and volume stamp", async () => {
      const holder = t.holderDir();
      write(holder, "a/one", "1");
      write(holder, "two", "22");
      const r = await scannedReplica({});
      const peer = await t.connect(holder);
      try {
        const reply = await peer.attach(attachReq(r.set));
        assert.match(reply.filesetId, /^[0-9a-f]+$/);
        assert.match(reply.holder, /^[0-9a-f]+$/);
        assert.equal(reply.scanned.records, 3, "a, a/one, two");
        assert.equal(reply.volume, 3);
        assert.deepEqual(reply.scanned.problems, []);
        await rejectsWith(peer.attach(attachReq(r.set)), "USAGE");
      } finally {
        await peer.close();
        r.set.close();
      }
    });

    it("reintegrate answers one result per record in order, backfetching content through the source; applied reports them; a resend is recognised", async () => {
      const holder = t.holderDir();
      // Give the holder's root an old mtime, after its file set (whose .intermezzo/ moves the root's
      // mtime) exists: with coarse timestamps both roots can otherwise share one, making the
      // replica's root setattr "identical" rather than "applied".
      FileSet.init(holder, { role: "holder" }).close();
      fs.utimesSync(holder, new Date("2001-01-01T00:00:00Z"), new Date("2001-01-01T00:00:00Z"));
      const r = await scannedReplica({ "d/f.txt": "file in d", empty: "", "big.bin": randomBytes(3 << 20, 5), "top.txt": "top" });
      fs.symlinkSync("top.txt", path.join(r.root, "sym"));
      await scan(r.set);
      const records = r.set.cml.all();
      const peer = await t.connect(holder);
      try {
        const attach = await peer.attach(attachReq(r.set));
        assert.deepEqual(await peer.applied(r.set.replicaId, 0), []);
        const asked: string[] = [];
        const reply = await peer.reintegrate(records, sourceOf(r.set, asked));
        assert.deepEqual(reply.results.map((x) => [x.seq, x.status]), records.map((x) => [x.seq, "applied"]));
        assert.deepEqual(asked.sort(), records.filter(hasContent).map((x) => x.fid).sort(), "only content-bearing records are backfetched");
        assert.equal(reply.volume, attach.volume + records.length);
        const applied = await peer.applied(r.set.replicaId, 0);
        assert.deepEqual(applied.map((a) => a.originSeq), records.map((x) => x.originSeq));
        assert.deepEqual(applied.map((a) => a.version), reply.results.map((x) => x.version));

        const again: string[] = [];
        const resent = await peer.reintegrate(records, sourceOf(r.set, again));
        assert.deepEqual(resent.results.map((x) => [x.status, x.version]), reply.results.map((x) => ["applied", x.version]));
        assert.deepEqual(again, [], "a resent record is not backfetched again");
        assert.equal(resent.volume, reply.volume);
      } finally {
        await peer.close();
        r.set.close();
      }
      assert.deepEqual(manifest(holder).map((e) => [e.path, e.type, e.hash, e.target]), manifest(r.root).map((e) => [e.path, e.type, e.hash, e.target]));
      assert.deepEqual(leftoverTemps(holder), []);
    });

    it("updates returns the server log after a stamp, in order, in pages", async () => {
      const holder = t.holderDir();
      for (let i = 0; i < 7; i++) write(holder, `f${i}`, `content ${i}`);
      const r = await scannedReplica({});
      const peer = await t.connect(holder);
      try {
        const { volume } = await peer.attach(attachReq(r.set));
        assert.equal(volume, 7);
        const seen: number[] = [];
        let since = 0;
        let pages = 0;
        for (;;) {
          const page = await peer.updates(since, 3);
          pages++;
          assert.ok(page.records.length <= 3);
          assert.equal(page.volume, volume);
          seen.push(...page.records.map((l) => l.record.seq));
          if (!page.more) break;
          since = page.records.at(-1)!.record.seq;
        }
        assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
        assert.equal(pages, 3);
        const tail = await peer.updates(5, 100);
        assert.deepEqual(tail.records.map((l) => l.record.seq), [6, 7]);
        assert.equal(tail.more, false);
        const none = await peer.updates(volume, 100);
        assert.deepEqual([none.records.length, none.more], [0, false]);
      } finally {
        await peer.close();
        r.set.close();
      }
    });

    it("fetch streams an object's current content and its description", async () => {
      const holder = t.holderDir();
      const big = randomBytes((5 << 20) + 17, 9);
      write(holder, "big.bin", big);
      write(holder, "small", "s");
      const r = await scannedReplica({});
      const peer = await t.connect(holder);
      try {
        await peer.attach(attachReq(r.set));
        const { records } = await peer.updates(0, 100);
        const rec = records.find((l) => l.record.op === "create" && l.record.name === "big.bin")!.record;
        assert.ok(rec.op === "create" && rec.content);
        const s = peer.fetch(rec.fid);
        const bytes = await collect(s.chunks);
        const done = await s.done;
        assert.ok(bytes.equals(big));
        assert.deepEqual([done.size, done.hash], [big.length, rec.content.hash]);
      } finally {
        await peer.close();
        r.set.close();
      }
    });

    it("fetchBatch answers many small objects at once: their bytes back to back, one manifest entry each in order; what it does not serve is an error entry", async () => {
      const holder = t.holderDir();
      const small = Array.from({ length: 40 }, (_, i) => `small ${i} `.repeat(i * 7));
      small.forEach((text, i) => write(holder, `d/f${i}`, text));
      write(holder, "large.bin", randomBytes(BATCH_FILE_MAX + 1, 4));
      const r = await scannedReplica({});
      const peer = await t.connect(holder);
      try {
        await peer.attach(attachReq(r.set));
        const { records } = await peer.updates(0, 1000);
        const fidOf = (name: string): string => records.find((l) => "name" in l.record && l.record.name === name)!.record.fid;
        const items = [...small.map((_, i) => ({ fid: fidOf(`f${i}`) })), { fid: fidOf("large.bin") }, { fid: fidOf("d") }, { fid: "abcdef:999999" }];
        const b = peer.fetchBatch(items);
        const bytes = await collect(b.chunks);
        const entries = await b.done;
        assert.equal(entries.length, items.length);
        assert.ok(bytes.equals(Buffer.from(small.join(""))), "the small files' bytes, back to back, in order");
        small.forEach((text, i) => assert.deepEqual(entries[i], { size: Buffer.byteLength(text), mtimeNs: String(fs.statSync(path.join(holder, `d/f${i}`), { bigint: true }).mtimeNs), hash: hashBuffer(Buffer.from(text)) }));
        for (const e of entries.slice(small.length)) assert.ok("error" in e, "a large file, a directory and an unknown fid are not served in a batch");
      } finally {
        await peer.close();
        r.set.close();
      }
    });

    it("reintegrate with a batch source backfetches small files many per request and large ones alone; a file changed after the scan arrives as it is now", async () => {
      const holder = t.holderDir();
      const files: Record<string, string | Buffer> = { "big.bin": randomBytes(2 << 20, 8), empty: "" };
      for (let i = 0; i < 300; i++) files[`d${i % 3}/f${i}.txt`] = `file ${i} `.repeat(1 + (i % 50));
      const r = await scannedReplica(files);
      fs.writeFileSync(path.join(r.root, "d1/f1.txt"), "changed after the scan, while batched");
      const asked: string[] = [];
      const batches: number[] = [];
      const holding = new Applier(r.set, { owner: true }).holding;
      const batch: BatchRequest = (items) => {
        batches.push(items.length);
        return readBatch(holding, items);
      };
      const peer = await t.connect(holder);
      try {
        await peer.attach(attachReq(r.set));
        const reply = await peer.reintegrate(r.records, sourceOf(r.set, asked), undefined, batch);
        assert.deepEqual(reply.results.filter((x) => x.status !== "applied"), []);
      } finally {
        await peer.close();
        r.set.close();
      }
      const big = r.records.find((x) => x.op === "create" && x.name === "big.bin")!.fid;
      assert.deepEqual(asked, [big], "only the large file travels alone");
      assert.equal(batches.reduce((a, b) => a + b, 0), 300, "every small file with content in a batch (the empty one needs none)");
      assert.ok(batches.length <= 10, `many files per request (${batches.join(", ")})`);
      assert.equal(fs.readFileSync(path.join(holder, "d1/f1.txt"), "utf8"), "changed after the scan, while batched");
      assert.deepEqual(leftoverTemps(holder), []);
      const report = await sync(r.root, holder);
      assert.deepEqual([report.conflicts, report.problems], [[], []]);
      assert.deepEqual(manifest(holder), manifest(r.root));
    });

    it("a batch answer that does not add up is refused and its files travel alone: nothing wrong is installed", async () => {
      const holder = t.holderDir();
      const lies: Array<(b: ContentBatch) => ContentBatch> = [
        // one entry too few
        (b) => ({ chunks: b.chunks, done: b.done.then((e) => e.slice(1)) }),
        // sizes that do not add up to the bytes sent
        (b) => ({ chunks: b.chunks, done: b.done.then((e) => e.map((x) => ("error" in x ? x : { ...x, size: x.size + 1 }))) }),
        // other bytes than the hashes describe
        (b) => ({ chunks: upper(b.chunks), done: b.done }),
      ];
      let filesetId: string | null = null;
      for (const [k, lie] of lies.entries()) {
        const files: Record<string, string> = {};
        for (let i = 0; i < 20; i++) files[`lie${k}/f${i}.txt`] = `honest ${k}/${i} `.repeat(3 + i);
        const r = await scannedReplica(files);
        const holding = new Applier(r.set, { owner: true }).holding;
        const asked: string[] = [];
        const peer = await t.connect(holder);
        try {
          filesetId = (await peer.attach(attachReq(r.set, filesetId))).filesetId;
          const reply = await peer.reintegrate(r.records, sourceOf(r.set, asked), undefined, (items) => lie(readBatch(holding, items)));
          assert.deepEqual(reply.results.filter((x) => x.status !== "applied"), []);
        } finally {
          await peer.close();
          r.set.close();
        }
        assert.equal(asked.length, 20, `lie ${k}: every file sent alone after the batch was refused`);
        for (const [rel, text] of Object.entries(files)) assert.equal(fs.readFileSync(path.join(holder, rel), "utf8"), text);
      }
      assert.deepEqual(leftoverTemps(holder), []);
    });

    it("serves many replicas at once: a second replica attaches and reintegrates beside the first, both read, objects lists the holder's Fsdb, and each is registered", async () => {
      const holder = t.holderDir();
      write(holder, "x", "x");
      const ra = await scannedReplica({ "from-a": "a" });
      const rb = await scannedReplica({ "from-b": "b" });
      const first = await t.connect(holder);
      const second = await t.connect(holder);
      try {
        const fa = await first.attach({ ...attachReq(ra.set), lastSeen: 0, where: "host-a:/a" });
        const fb = await second.attach({ ...attachReq(rb.set, fa.filesetId), where: "host-b:/b" });
        assert.equal(fb.filesetId, fa.filesetId);
        // both reintegrate while both are attached, interleaved
        const [resA, resB] = await Promise.all([
          first.reintegrate(ra.records, sourceOf(ra.set, [])),
          second.reintegrate(rb.records, sourceOf(rb.set, [])),
        ]);
        assert.deepEqual([...resA.results, ...resB.results].map((x) => x.status).filter((st) => st !== "applied"), []);
        const names = (await second.updates(0, 100)).records.map((l) => ("name" in l.record ? l.record.name : "")).sort();
        assert.deepEqual(names.filter((n) => n !== ""), ["from-a", "from-b", "x"]);
        const listed = await first.objects("", 1000);
        assert.deepEqual(listed.objects.map((o) => o.name).sort(), ["", "from-a", "from-b", "x"]);
        assert.equal(listed.volume, (await first.updates(0, 1)).volume);
        // a page: fids after the first one
        const page = await first.objects(listed.objects[0]!.fid, 1);
        assert.equal(page.objects[0]!.fid, listed.objects[1]!.fid);
        assert.equal(page.more, true);
      } finally {
        await first.close(3);
        await second.close();
        ra.set.close();
        rb.set.close();
      }
      const set = FileSet.open(holder);
      try {
        const reg = new Map(set.replicas.list().map((r) => [r.replica, r]));
        assert.equal(reg.get(ra.set.replicaId)?.place, "host-a:/a");
        assert.equal(reg.get(ra.set.replicaId)?.lastSeen, 3);
        assert.equal(reg.get(rb.set.replicaId)?.place, "host-b:/b");
      } finally {
        set.close();
      }
    });

    it("a content source failing mid-stream fails only that record; both journals stay consistent and the next sync converges", async () => {
      const holder = t.holderDir();
      // several chunks at any send chunk size up to 4 MiB (it fails after the first)
      const r = await scannedReplica({ "a.txt": "a", "broken.bin": randomBytes(8 << 20, 3), "z.txt": "z" });
      const broken = r.records.find((x) => x.op === "create" && x.name === "broken.bin")!;
      const good = sourceOf(r.set, []);
      const failing: ContentSource = (fid, signature) => {
        if (fid !== broken.fid) return good(fid, signature);
        const s = good(fid, signature);
        return {
          done: s.done,
          chunks: (async function* () {
            let n = 0;
            for await (const c of s.chunks) {
              if (++n > 1) throw new Error("disk read error (test)");
              yield c;
            }
          })(),
        };
      };
      const peer = await t.connect(holder);
      try {
        await peer.attach(attachReq(r.set));
        const reply = await peer.reintegrate(r.records, failing);
        const status = new Map(r.records.map((x, i) => [x.op === "create" || x.op === "mkdir" ? x.name : x.op, reply.results[i]!.status]));
        assert.equal(status.get("broken.bin"), "failed");
        assert.equal(status.get("a.txt"), "applied");
        assert.equal(status.get("z.txt"), "applied");
      } finally {
        await peer.close();
        r.set.close();
      }
      assert.equal(fs.existsSync(path.join(holder, "broken.bin")), false, "no torn file on the holder");
      assert.deepEqual(leftoverTemps(holder), []);
      const report = await sync(r.root, holder);
      assert.deepEqual([report.conflicts, report.problems], [[], []]);
      assert.deepEqual(manifest(holder), manifest(r.root));
      assert.deepEqual(leftoverTemps(holder).concat(leftoverTemps(r.root)), []);
    });

    it("presign is a hint answered at once: a big file edited on the replica arrives as a delta against the basis the holder signed ahead", async () => {
      const replica = dir();
      const holder = t.holderDir();
      const data = randomBytes(2 << 20, 21);
      write(replica, "big.bin", data);
      write(replica, "small.txt", "too small to sign");
      await sync(replica, holder);
      const edited = Buffer.concat([data.subarray(0, 1 << 20), Buffer.from("inserted in the middle"), data.subarray(1 << 20)]);
      fs.writeFileSync(path.join(replica, "big.bin"), edited);
      const set = FileSet.open(replica);
      try {
        const fids = ["big.bin", "small.txt"].map((name) => set.fsdb.child(ROOT_FID, name)!.fid);
        const peer = await t.connect(holder);
        try {
          await peer.attach(attachReq(set));
          // answered at once; an unknown object, a small file and the root are ignored
          await peer.presign([...fids, "abcdef:999999", ROOT_FID]);
        } finally {
          await peer.close();
        }
      } finally {
        set.close();
      }
      // a whole sync: the replica's scan hints the edited file before it hashes it
      const direct = await t.connect(holder);
      const report = await syncFileSets(replica, direct, SYNC);
      assert.deepEqual([report.conflicts, report.problems], [[], []]);
      assert.ok(fs.readFileSync(path.join(holder, "big.bin")).equals(edited));
      assert.ok(report.bytesSent < 256 << 10, `a delta, not the whole 2 MiB (${report.bytesSent} bytes)`);
      if (direct instanceof LentoServer) assert.equal(direct.presigned.hits, 1, "the backfetch took the signature made ahead");
      assert.deepEqual(leftoverTemps(holder).concat(leftoverTemps(replica)), []);
    });

    it("a first sync of a varied tree gives identical manifests", async () => {
      const replica = dir();
      const holder = t.holderDir();
      makeVariedTree(replica, { seed: 11 });
      const report = await sync(replica, holder);
      assert.deepEqual([report.conflicts, report.problems], [[], []]);
      assert.ok(report.filesSent > 0);
      assert.deepEqual(manifest(holder), manifest(replica));
      assert.deepEqual(leftoverTemps(holder).concat(leftoverTemps(replica)), []);
    });

    it("a two-way change set converges; a no-change resync then moves no file data", async () => {
      const replica = dir();
      const holder = t.holderDir();
      makeVariedTree(replica, { seed: 12 });
      await sync(replica, holder);
      write(replica, "from-replica/new.txt", "made on the replica");
      fs.writeFileSync(path.join(replica, "top.txt"), "edited on the replica");
      fs.renameSync(path.join(replica, "with space"), path.join(replica, "renamed dir"));
      write(holder, "from-holder.txt", "made on the holder");
      fs.rmSync(path.join(holder, "a/b/c"), { recursive: true });
      fs.chmodSync(path.join(holder, "a/one"), 0o640);
      fs.writeFileSync(path.join(holder, "a/b/two.bin"), randomBytes(9000, 4));
      const report = await sync(replica, holder);
      assert.deepEqual([report.conflicts, report.problems], [[], []]);
      assert.deepEqual(manifest(replica), manifest(holder));
      assert.equal(fs.readFileSync(path.join(holder, "top.txt"), "utf8"), "edited on the replica");
      assert.equal(fs.readFileSync(path.join(replica, "from-holder.txt"), "utf8"), "made on the holder");
      assert.equal(fs.existsSync(path.join(replica, "a/b/c")), false);
      assert.ok(fs.existsSync(path.join(holder, "renamed dir/and more/file with spaces")));
      assert.equal(fs.statSync(path.join(replica, "a/one")).mode & 0o777, 0o640);
      assert.ok(fs.readFileSync(path.join(replica, "a/hard-two")).equals(randomBytes(9000, 4)), "the hard link sees the holder's edit");

      const before = manifest(holder);
      const again = await sync(replica, holder);
      assert.deepEqual([again.recordsShipped, again.recordsApplied, again.filesSent, again.filesReceived, again.bytesSent, again.bytesReceived], [0, 0, 0, 0, 0, 0]);
      assert.ok(again.wire.sent + again.wire.received < 16 << 10, `a no-change resync is a few requests on the wire (${JSON.stringify(again.wire)})`);
      assert.deepEqual(manifest(holder), before);
      assert.deepEqual(manifest(replica), before);
      assert.deepEqual(leftoverTemps(holder).concat(leftoverTemps(replica)), []);
    });

    it("a create/create conflict is settled by the policy on every transport; getattr answers the holder's objects", async () => {
      const replica = dir();
      const holder = t.holderDir();
      write(replica, "shared.txt", "shared");
      await sync(replica, holder);
      write(replica, "clash", "version from the replica");
      write(holder, "clash", "version from the holder");
      const report = await syncFileSets(replica, await t.connect(holder), { ...SYNC, policies: ["manual"] });
      assert.deepEqual(report.conflicts.map((c) => [c.path, c.kind, c.side, c.status]), [["clash", "create/create", "holder", "open"]]);
      assert.equal(fs.readFileSync(path.join(replica, "clash"), "utf8"), "version from the holder", "the holder's version stays visible");
      assert.equal(fs.readFileSync(path.join(replica, report.conflicts[0]!.stored!), "utf8"), "version from the replica", "the replica's is parked");
      assert.deepEqual(manifest(replica), manifest(holder));
      const again = await sync(replica, holder);
      assert.deepEqual([again.conflicts, again.problems], [[], []]);

      const set = FileSet.open(replica);
      const fids = [set.fsdb.child("root", "clash")!.fid, "root", "ffffffff:999"];
      const req = attachReq(set);
      set.close();
      const peer = await t.connect(holder);
      try {
        await peer.attach(req);
        const [clash, root, none] = await peer.getattr(fids);
        assert.equal(clash?.name, "clash");
        assert.equal(clash?.size, "version from the holder".length);
        assert.equal(root?.type, "d");
        assert.equal(none, null);
      } finally {
        await peer.close();
      }
    });
  });
}
