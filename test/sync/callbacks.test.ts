/**
 * Callbacks and permits at the holder, with in-process replicas (`LentoServer` connections whose
 * live side is a recorder): a BreakCallback goes to every other live replica as a multi-RPC, a
 * replica that does not answer lapses without delaying the others and holds again once it answers;
 * a permit is taken back from its owner before it is granted to another, and taken anyway when the
 * owner does not answer. The wire transports run the same code (`test/sync/live.test.ts`).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID } from "../../src/journal/records.js";
import type { BreakCallback } from "../../src/sync/callbacks.js";
import { backOff } from "../../src/sync/attachment.js";
import { multiRpc } from "../../src/sync/multi-rpc.js";
import type { AttachRequest, LiveReplica } from "../../src/sync/peer.js";
import { LentoServer } from "../../src/sync/server.js";
import { newTally } from "../../src/sync/client.js";
import { attachRequest, exchange, resolveOptions, syncFileSets, type SyncOptions } from "../../src/sync/sync.js";
import { scan } from "../../src/filter/scanner.js";
import { put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-callbacks-");
after(() => scratch.cleanup());

async function until(pred: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 30_000; !pred(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function attachReq(replica: string): AttachRequest {
  return { replica, filesetId: null, expectHolder: false, scan: { scan: true, maxDeleteFraction: 1, force: false }, dryRun: false };
}

/** A live replica that records what the holder asked; `answer` false leaves its answers pending until `settle`. */
class Recorder implements LiveReplica {
  readonly breaks: BreakCallback[] = [];
  readonly revokes: string[][] = [];
  private pending: Array<() => void> = [];
  constructor(public answer: boolean) {}
  breakCallback(b: BreakCallback): Promise<void> {
    this.breaks.push(b);
    return this.answer ? Promise.resolve() : new Promise((r) => this.pending.push(r));
  }
  revoke(fids: string[]): Promise<void> {
    this.revokes.push(fids);
    return this.answer ? Promise.resolve() : new Promise((r) => this.pending.push(r));
  }
  settle(): void {
    this.answer = true;
    for (const r of this.pending.splice(0)) r();
  }
}

describe("multiRpc", () => {
  it("sends to every peer before gathering, and one deadline settles the peers that did not answer", async () => {
    const events: string[] = [];
    let answerA!: () => void;
    const calls = new Map<string, () => Promise<unknown>>([
      ["a", () => (events.push("sent a"), new Promise<void>((r) => (answerA = () => (events.push("a answered"), r()))))],
      ["b", () => (events.push("sent b"), Promise.reject(new Error("cut")))],
      ["c", () => (events.push("sent c"), new Promise<void>(() => undefined))],
    ]);
    const gathered = multiRpc(calls, 200);
    answerA();
    const outcome = await gathered;
    assert.deepEqual(events, ["sent a", "sent b", "sent c", "a answered"]);
    assert.deepEqual(Object.fromEntries(outcome), { a: "answered", b: "failed", c: "lapsed" });
  });
});

describe("callbacks and permits at the holder", () => {
  it("breaks every other live replica's callback; a silent one lapses, is logged, and holds again once it answers; permits are revoked before they are granted", async () => {
    const holder = scratch.dir();
    fs.writeFileSync(path.join(holder, "shared.txt"), "v1");
    const log: string[] = [];
    const opts = { owner: false, callbackTimeoutMs: 200, log: (l: string) => log.push(l) };
    const [aa, bb, cc] = [new LentoServer(holder, opts), new LentoServer(holder, opts), new LentoServer(holder, opts)];
    const [ra, rb, rc] = [new Recorder(true), new Recorder(false), new Recorder(true)];
    try {
      for (const [s, id] of [[aa, "aa"], [bb, "bb"], [cc, "cc"]] as const) await s.attach(attachReq(id));
      await aa.watch(ra);
      await bb.watch(rb);
      await cc.watch(rc);
      const set = FileSet.open(holder);
      const fid = set.fsdb.child(ROOT_FID, "shared.txt")!.fid;
      set.close();

      // a holder-side change (journaled by the live holder's watcher) breaks all three callbacks
      fs.writeFileSync(path.join(holder, "news.txt"), "first");
      await until(() => ra.breaks.length === 1 && rc.breaks.length === 1 && rb.breaks.length === 1, "a break to every live replica");
      await until(() => log.some((l) => l.startsWith("replica bb did not answer BreakCallback")), "bb's lapse logged");
      assert.ok(!log.some((l) => /replica (aa|cc) did not answer/.test(l)), log.join("\n"));
      // while bb lapses the others keep getting breaks; bb gets none until it answers
      fs.writeFileSync(path.join(holder, "more.txt"), "second");
      await until(() => ra.breaks.length === 2 && rc.breaks.length === 2, "the second break to aa and cc");
      assert.equal(rb.breaks.length, 1);
      rb.settle();
      await until(() => rb.breaks.length === 2, "bb's catch-up break once it answered");
      assert.equal(rb.breaks[1]!.volume, ra.breaks[1]!.volume, "bb is told the newest stamp at once");
      assert.ok(log.some((l) => l === "replica bb answered BreakCallback late; its callback holds again"), log.join("\n"));

      // permits: aa gets it; cc's request revokes it from aa first; a silent owner loses it at the deadline
      assert.equal((await aa.permit([fid])).granted, true);
      const grant = await cc.permit([fid]);
      assert.equal(grant.granted, true);
      assert.deepEqual(ra.revokes, [[fid]]);
      rb.answer = false;
      assert.equal((await bb.permit([fid])).granted, true);
      assert.deepEqual(rc.revokes, [[fid]]);
      assert.equal((await aa.permit([fid])).granted, true, "taken from bb, which does not answer, at the deadline");
      assert.deepEqual(rb.revokes, [[fid]]);
      assert.ok(log.some((l) => l.startsWith("replica bb did not give back a permit")), log.join("\n"));
    } finally {
      rb.settle();
      for (const s of [aa, bb, cc]) await s.close();
    }
    assert.ok(!fs.existsSync(path.join(holder, ".intermezzo/permits.pid")), "the granting process's claim ends with its last connection");
  });
});

/** Sync options of the adoption cases. */
const sync: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: false, replicaIsSrc: true };

/** A replica synced with its holder, then `x.txt` made and journaled on the holder only; its fid there. */
async function syncedWithHolderFile(): Promise<{ replica: string; holder: string; fid: string }> {
  const [replica, holder] = [scratch.dir(), scratch.dir()];
  put(holder, "keep.txt", "k");
  await syncFileSets(replica, new LentoServer(holder, { owner: false }), sync);
  put(holder, "x.txt", "made on both sides");
  const hset = FileSet.open(holder);
  await scan(hset, { force: true });
  const fid = hset.fsdb.child(ROOT_FID, "x.txt")!.fid;
  hset.close();
  return { replica, holder, fid };
}

describe("a permit of an object adopted on the connection", () => {
  it("is revoked under the holder's fid, which the replica now names it by", async () => {
    const { replica, holder, fid } = await syncedWithHolderFile();
    // the same file made on both sides, shipped on the connection that then goes live: adopted
    put(replica, "x.txt", "made on both sides");
    const opts = { owner: false, callbackTimeoutMs: 200, log: () => undefined };
    const [aa, cc] = [new LentoServer(holder, opts), new LentoServer(holder, opts)];
    const [ra, rc] = [new Recorder(true), new Recorder(true)];
    try {
      const first = await syncFileSets(replica, aa, sync);
      assert.deepEqual([first.problems, first.conflicts], [[], []]);
      const rset = FileSet.open(replica);
      const request = attachRequest(rset, sync);
      assert.equal(rset.fsdb.child(ROOT_FID, "x.txt")!.fid, fid, "the replica names the file by the holder's fid");
      rset.close();
      await aa.attach(request);
      await aa.watch(ra);
      await cc.attach(attachReq("cc"));
      await cc.watch(rc);
      assert.equal((await aa.permit([fid])).granted, true);
      assert.equal((await cc.permit([fid])).granted, true);
      assert.equal(ra.revokes.length, 1);
      assert.ok(ra.revokes[0]!.includes(fid), `revoked as ${JSON.stringify(ra.revokes[0])}, not as ${fid}`);
    } finally {
      for (const s of [aa, cc]) await s.close();
    }
  });

  it("asked under the replica's own fid before the adoption, is the holder's object's permit: another replica's request revokes it", async () => {
    const { replica, holder, fid } = await syncedWithHolderFile();
    // the replica's own file, journaled and not shipped yet: its program opens it for writing (a
    // permit asked by the replica's fid), then the exchange ships its create and the holder adopts it
    put(replica, "x.txt", "made on both sides");
    const rset = FileSet.open(replica);
    await scan(rset, { force: true });
    const own = rset.fsdb.child(ROOT_FID, "x.txt")!.fid;
    assert.notEqual(own, fid);
    const opts = { owner: false, callbackTimeoutMs: 200, log: () => undefined };
    const [aa, cc] = [new LentoServer(holder, opts), new LentoServer(holder, opts)];
    const [ra, rc] = [new Recorder(true), new Recorder(true)];
    try {
      await aa.attach(attachRequest(rset, sync));
      await aa.watch(ra);
      await cc.attach(attachReq("cc"));
      await cc.watch(rc);
      assert.equal((await aa.permit([own])).granted, true);
      const tally = newTally();
      await exchange(rset, aa, tally, sync, resolveOptions(replica, sync), false);
      assert.deepEqual([tally.problems, tally.conflicts], [[], []]);
      assert.equal(rset.fsdb.child(ROOT_FID, "x.txt")!.fid, fid, "adopted: the replica names the file by the holder's fid");
      assert.equal((await cc.permit([fid])).granted, true);
      assert.equal(ra.revokes.length, 1, "the permit the replica holds is taken back before another replica gets it");
      assert.deepEqual([...ra.revokes[0]!].sort(), [fid, own].sort(), "under both names: the replica's writer counted under its old fid is waited for");
    } finally {
      rset.close();
      for (const s of [aa, cc]) await s.close();
    }
  });
});

describe("backOff (a disconnected attachment's wait)", () => {
  it("ends at its time, when stopped, or at once when the host's network addresses change", async () => {
    const never = new AbortController().signal;
    assert.equal(await backOff(20, never, () => "lo 127.0.0.1"), "time");
    const stop = new AbortController();
    const stopped = backOff(60_000, stop.signal, () => "lo 127.0.0.1");
    stop.abort();
    assert.equal(await stopped, "stopped");
    let looks = 0;
    // the addresses change on the third look (a Wi-Fi address arriving): the 60 s wait ends then
    assert.equal(await backOff(60_000, never, () => (++looks >= 3 ? "lo 127.0.0.1\nwlan0 192.0.2.7" : "lo 127.0.0.1")), "network");
  });
});
