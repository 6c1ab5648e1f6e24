/**
 * An exchange with nothing to do writes nothing to the replica's database, and one that applies the
 * holder's records still marks itself open first (`exchange` in src/sync/sync.ts): a run killed
 * while applying them makes the next exchange revalidate.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { DB_FILE, META_DIR } from "../../src/journal/fileset.js";
import type { HolderPeer } from "../../src/sync/peer.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets } from "../../src/sync/sync.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-quiet-exchange-");
after(() => scratch.cleanup());

const SYNC = { dryRun: false, maxDeleteFraction: 1, force: true, owner: false, mirror: false, replicaIsSrc: true };

/** A replica's meta value, read through a connection of its own (the sync's may be open). */
function metaValue(root: string, key: string): string | undefined {
  const db = new Database(path.join(root, META_DIR, DB_FILE), { readonly: true });
  try {
    return db.prepare<[string], { value: string }>(`SELECT value FROM meta WHERE key = ?`).get(key)?.value;
  } finally {
    db.close();
  }
}

/** The replica's database files: each one's size, modification time and bytes. */
function dbFiles(root: string): Record<string, string> {
  const dir = path.join(root, META_DIR);
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith(DB_FILE)).sort()) {
    const st = fs.statSync(path.join(dir, f), { bigint: true });
    out[f] = `${st.size} ${st.mtimeNs} ${fs.readFileSync(path.join(dir, f)).toString("base64")}`;
  }
  return out;
}

describe("a quiet exchange", () => {
  it("writes nothing to the replica's database when nothing changed on either side", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(replica, "a/one.txt", "one");
    put(replica, "two.txt", "two");
    await syncFileSets(replica, new LentoServer(holder, { owner: false }), SYNC);
    await syncFileSets(replica, new LentoServer(holder, { owner: false }), SYNC);
    const before = dbFiles(replica);
    const lastSeen = metaValue(replica, "last_seen");
    const r = await syncFileSets(replica, new LentoServer(holder, { owner: false }), SYNC);
    assert.equal(r.recordsShipped + r.recordsApplied, 0);
    assert.deepEqual(dbFiles(replica), before, "the database files are untouched");
    assert.equal(metaValue(replica, "last_seen"), lastSeen);
    assert.equal(metaValue(replica, "exchange_open"), "");
    assert.deepEqual(manifest(replica), manifest(holder));
  });

  it("marks itself open before it applies the holder's records", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(replica, "kept.txt", "kept");
    await syncFileSets(replica, new LentoServer(holder, { owner: false }), SYNC);
    put(holder, "new.txt", "the holder makes this");
    // the content of the holder's new file is asked for while its record is applied: the mark
    // must be on disk by then (a real holder, observed at the calls that fetch content)
    const server = new LentoServer(holder, { owner: false });
    const seen: Array<string | undefined> = [];
    const peer = new Proxy(server, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver) as unknown;
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          if (key === "fetch" || key === "fetchBatch") seen.push(metaValue(replica, "exchange_open"));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as HolderPeer;
    const r = await syncFileSets(replica, peer, SYNC);
    assert.ok(r.recordsApplied > 0);
    assert.ok(seen.length > 0, "the new file's content was fetched");
    for (const mark of seen) assert.match(mark ?? "", /^\d{4}-\d\d-\d\dT/, "the exchange was marked open while applying");
    assert.equal(metaValue(replica, "exchange_open"), "", "cleared once the exchange completes");
    assert.deepEqual(manifest(replica), manifest(holder));
  });
});
