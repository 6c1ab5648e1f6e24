/**
 * A holder record whose content the holder cannot serve when the replica asks (a live holder's
 * file moved under its Fsdb a moment before its watcher journals it; an object another connection
 * made that this one does not see yet). Before, the replica took the record's version stamp in
 * without its content — the churn test ended with an empty file carrying the holder's latest stamp,
 * which no later sync ever corrected. Now the object is listed as unapplied and the exchange's last
 * restore brings it to the holder's state. The failure is injected at the peer (a fake, in
 * addition to the churn test that found it with real processes).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { ImzError } from "../../src/errors.js";
import { FileSet } from "../../src/journal/fileset.js";
import type { HolderPeer } from "../../src/sync/peer.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets } from "../../src/sync/sync.js";
import { unapplied } from "../../src/sync/unapplied.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-unserved-");
after(() => scratch.cleanup());

const SYNC = { dryRun: false, maxDeleteFraction: 1, force: true, owner: false, mirror: false, replicaIsSrc: true };
const BIG = 200 << 10; // past the batched small-file size: fetched alone

/** The holder, except that the first `misses` fetches of `fid` fail as for an object it does not have. */
function missing(holder: string, fid: string, misses: number): HolderPeer {
  const server = new LentoServer(holder, { owner: false });
  let left = misses;
  return new Proxy(server, {
    get(target, key, receiver) {
      if (key === "fetch") {
        return (f: string, ...rest: unknown[]) => {
          if (f !== fid || left-- <= 0) return (target.fetch as (...a: unknown[]) => unknown).call(target, f, ...rest);
          const err = new ImzError("RECORD_INVALID", `content asked for, but no object ${f} here`);
          const done = Promise.reject(err);
          done.catch(() => undefined);
          // eslint-disable-next-line require-yield
          return { chunks: (async function* () { throw err; })(), done };
        };
      }
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as HolderPeer;
}

describe("holder content that cannot be served when asked", () => {
  it("is brought in by the same exchange's restore, not stamped over the old bytes", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "keep.txt", "k");
    put(holder, "f.bin", "a".repeat(BIG));
    assert.equal((await syncFileSets(replica, new LentoServer(holder, { owner: false }), SYNC)).problems.length, 0);
    const fid = fileFid(replica, "f.bin");
    put(holder, "f.bin", "b".repeat(BIG)); // the holder's scan journals the new version at attach

    const run = await syncFileSets(replica, missing(holder, fid, 1), SYNC);
    assert.deepEqual(run.conflicts, []);
    assert.equal(firstByte(replica), "b", "the holder's new bytes");
    assert.deepEqual(manifest(replica), manifest(holder));
    const set = FileSet.open(replica);
    try {
      assert.deepEqual(unapplied(set), []);
      assert.equal(set.fsdb.must(fid).version, versionOf(holder, fid));
    } finally {
      set.close();
    }
  });

  it("unserved at the restore too: stays listed, keeps its old stamp, and the next sync brings it in", async () => {
    const [replica, holder] = [scratch.dir(), scratch.dir()];
    put(holder, "keep.txt", "k");
    put(holder, "f.bin", "a".repeat(BIG));
    await syncFileSets(replica, new LentoServer(holder, { owner: false }), SYNC);
    const fid = fileFid(replica, "f.bin");
    const before = versionOf(replica, fid);
    put(holder, "f.bin", "b".repeat(BIG));

    const run = await syncFileSets(replica, missing(holder, fid, 2), SYNC);
    assert.equal(run.problems.length, 1, JSON.stringify(run.problems));
    assert.equal(run.problems[0]!.code, "RECORD_INVALID");
    assert.equal(firstByte(replica), "a", "the old bytes, whole");
    assert.equal(versionOf(replica, fid), before, "the old bytes keep their own stamp");

    const next = await syncFileSets(replica, new LentoServer(holder, { owner: false }), SYNC);
    assert.deepEqual([next.conflicts, next.problems], [[], []]);
    assert.deepEqual(manifest(replica), manifest(holder));
  });
});

/** The one byte value `f.bin` repeats, or "mixed". */
function firstByte(root: string): string {
  const text = fs.readFileSync(path.join(root, "f.bin"), "utf8");
  return text.length === BIG && text === text[0]!.repeat(BIG) ? text[0]! : "mixed";
}

function fileFid(root: string, name: string): string {
  const set = FileSet.open(root);
  try {
    return set.fsdb.child("root", name)!.fid;
  } finally {
    set.close();
  }
}

function versionOf(root: string, fid: string): string {
  const set = FileSet.open(root);
  try {
    return set.fsdb.must(fid).version;
  } finally {
    set.close();
  }
}
