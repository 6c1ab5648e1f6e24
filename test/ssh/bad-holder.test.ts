/**
 * Bad input the other way round: a hand-made holder (the real `Connection` with handlers that accept
 * every record) answers a real replica's sync with update records naming paths outside the tree,
 * `.intermezzo`, renames out of it, creates beneath a symlink, and replies failing their schema.
 * The replica reports each refused record as a PATH_UNSAFE problem and writes nothing outside its
 * root.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { hashBuffer } from "../../src/journal/content-hash.js";
import { ROOT_FID, type JournalRecord } from "../../src/journal/records.js";
import { Connection } from "../../src/ssh/connection.js";
import { syncFileSets } from "../../src/sync/sync.js";
import { WirePeer } from "../../src/sync/wire-peer.js";
import { makeFixture, snapshot } from "./raw-peer.js";

/** Options for a replica's sync (a variable, so fields other branches add are not excess properties). */
const SYNC_OPTS = { dryRun: false, maxDeleteFraction: 1, force: true, owner: false, mirror: false, replicaIsSrc: true };

describe("bad input the other way: a hand-made holder's update records never write outside the replica", () => {
  const HOLDER = "feed01";

  /** A fake holder on in-memory streams: accepts every record, then serves `evil` as its log. */
  function fakeHolder(
    evil: (replica: Map<string, { fid: string; version: string }>) => unknown[],
    content: Map<string, Buffer>,
  ): { peer: Promise<WirePeer>; reintegrated: Map<string, { fid: string; version: string }> } {
    const toReplica = new PassThrough();
    const toHolder = new PassThrough();
    const byName = new Map<string, { fid: string; version: string }>();
    let version = 100;
    /** The objects its log makes, as its `getattr` answers them (a replica brings an object it could not place to the holder's state). */
    const made = new Map<string, unknown>();
    const conn = new Connection(toHolder, toReplica, {
      handlers: {
        attach: async () => ({ filesetId: "abcdef12", holder: HOLDER, name: "evil", volume: 1000, scanned: { records: 0, problems: [] } }),
        applied: async () => [],
        reintegrate: async (h) => {
          const records = (h as unknown as { records: JournalRecord[] }).records;
          const results = records.map((r) => ({ seq: r.seq, status: "applied", version: `${HOLDER}:${++version}` }));
          records.forEach((r, i) => "name" in r && byName.set(r.name, { fid: r.fid, version: results[i]!.version }));
          return { results, volume: 1000 };
        },
        updates: async (h) => {
          const since = (h as unknown as { since: number }).since;
          const records = since === 0 ? evil(byName) : [];
          for (const l of records as Array<{ record: Record<string, unknown>; version: string }>) {
            const r = l.record;
            const type = ({ create: "f", mkdir: "d", symlink: "l" } as Record<string, string>)[String(r["op"])];
            if (!type) continue;
            const c = r["content"] as { size: number; hash: string } | undefined;
            const attrs = r["attrs"] as { mode?: number };
            made.set(String(r["fid"]), {
              fid: r["fid"], type, parent: r["parent"], name: r["name"], version: l.version, size: c?.size ?? 0, mtimeNs: "1700000000000000000",
              mode: attrs.mode ?? 0o777, uid: 0, gid: 0, hash: c?.hash ?? "", target: r["target"] ?? null, flags: 0, ino: null, ctimeNs: null, xattrs: "",
            });
          }
          return { records, volume: 1000, more: false };
        },
        getattr: async (h) => (h as unknown as { fids: string[] }).fids.map((f) => made.get(f) ?? null),
        fetch: async (h, ctx) => {
          const body = content.get(String((h as unknown as { fid: string }).fid)) ?? Buffer.alloc(0);
          await ctx.send(body);
          ctx.endData();
          return { size: body.length, mtimeNs: "1700000000000000000", hash: hashBuffer(body) };
        },
        close: async () => null,
      },
    });
    void conn.start({ software: "evil-holder", role: "holder" }).catch(() => undefined);
    return { peer: WirePeer.connect(toReplica, toHolder), reintegrated: byName };
  }

  function logged(seq: number, op: string, fields: Record<string, unknown>): unknown {
    return { record: { op, seq, origin: HOLDER, originSeq: seq, time: 1, fid: `${HOLDER}:${seq}`, ...fields }, version: `${HOLDER}:${seq}` };
  }

  it("traversal names, '.intermezzo', renames out of the tree and creates beneath a symlink are refused; the rest applies", async () => {
    const fx = await makeFixture();
    const replica = path.join(fx.base, "replica");
    try {
      fs.mkdirSync(path.join(replica, "d"), { recursive: true });
      fs.writeFileSync(path.join(replica, "d", "f"), "replica file\n");
      const before = snapshot(fx);
      const t = fx.token;
      const body = Buffer.from("would escape");
      const content = new Map([[`${HOLDER}:30`, body]]);
      const { peer } = fakeHolder((fids) => [
        ...["..", `../${t}`, `../../${t}`, `d/${t}`, "a\0b", ".intermezzo"].flatMap((name, i) => [
          logged(10 + i * 2, "create", { parent: ROOT_FID, name, attrs: { mode: 0o644 } }),
          logged(11 + i * 2, "mkdir", { parent: ROOT_FID, name, attrs: { mode: 0o755 } }),
        ]),
        logged(30, "create", { parent: ROOT_FID, name: `../${t}`, attrs: { mode: 0o644 }, content: { size: body.length, mtimeNs: "1700000000000000000", hash: hashBuffer(body) } }),
        logged(31, "rename", { fid: fids.get("f")!.fid, parent: fids.get("d")!.fid, name: "f", newParent: ROOT_FID, newName: `../${t}`, base: fids.get("f")!.version }),
        logged(32, "symlink", { parent: ROOT_FID, name: "ln", target: fx.elsewhere, attrs: {} }),
        logged(33, "create", { parent: `${HOLDER}:32`, name: t, attrs: { mode: 0o644 } }),
        logged(34, "mkdir", { parent: ROOT_FID, name: "fine", attrs: { mode: 0o755 } }),
      ], content);
      const report = await syncFileSets(replica, await peer, SYNC_OPTS);
      const unsafe = report.problems.filter((p) => p.code === "PATH_UNSAFE");
      // the create beneath the symlink does not fit the replica (no directory there): it is brought
      // to the holder's state instead, refused the same way
      assert.equal(unsafe.length, 15, JSON.stringify(report.problems));
      assert.equal(report.problems.length, 15, JSON.stringify(report.problems));
      assert.match(unsafe[14]!.message, /ln: a symlink or a file is in the way \(not followed\)/);
      assert.equal(report.conflicts.length, 0, JSON.stringify(report.conflicts));
      const after = JSON.parse(snapshot(fx)) as Record<string, unknown>;
      assert.deepEqual({ ...after, base: null }, { ...(JSON.parse(before) as Record<string, unknown>), base: null });
      assert.deepEqual(fs.readdirSync(fx.base).sort(), ["holder", "outside", "replica"]);
      assert.deepEqual(fs.readdirSync(replica).sort(), [".intermezzo", "d", "fine", "ln"]);
      assert.equal(fs.readFileSync(path.join(replica, "d", "f"), "utf8"), "replica file\n");
      assert.deepEqual(fs.readdirSync(path.join(replica, ".intermezzo", "tmp")), []);
    } finally {
      fx.cleanup();
    }
  });

  it("a holder reply failing its schema stops the sync with FRAME_BAD_HEADER and applies nothing", async () => {
    const fx = await makeFixture();
    const replica = path.join(fx.base, "replica");
    try {
      fs.mkdirSync(replica);
      const { peer } = fakeHolder(() => [
        logged(10, "mkdir", { parent: ROOT_FID, name: "ok", attrs: {} }),
        { record: { op: "mkdir", seq: 11, origin: HOLDER, originSeq: 11, time: 1, fid: `${HOLDER}:11`, parent: ROOT_FID, name: "x", attrs: {}, path: "/etc" }, version: `${HOLDER}:11` },
      ], new Map());
      await assert.rejects(syncFileSets(replica, await peer, SYNC_OPTS), (err) => isImzError(err, "FRAME_BAD_HEADER"));
      assert.deepEqual(fs.readdirSync(replica), [".intermezzo"]);
    } finally {
      fx.cleanup();
    }
  });
});
