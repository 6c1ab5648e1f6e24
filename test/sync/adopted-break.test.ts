/**
 * A lazy replica attached live (in process) whose file the holder adopted as identical: the
 * holder's later change of that file reaches it (the file drops back to a placeholder of the new
 * size), whether the adoption happened on the first sync's connection or on the live one.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { HAS_DATA } from "../../src/journal/fsdb.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { runLive } from "../../src/sync/attachment.js";
import { replicate } from "../../src/sync/replicate.js";
import { LentoServer } from "../../src/sync/server.js";
import { until } from "../helpers/live.js";
import { put, scratchDirs, withSet } from "../helpers/tree.js";

const scratch = scratchDirs("imz-adopted-break-");
after(() => scratch.cleanup());

function row(root: string, name: string): { fid: string; size: number; data: boolean } | undefined {
  return withSet(root, (set) => {
    const o = set.fsdb.child(ROOT_FID, name);
    return o && { fid: o.fid, size: o.size, data: (o.flags & HAS_DATA) !== 0 };
  });
}

describe("a lazy replica's adopted file changed on the holder", () => {
  it("drops back to a placeholder of the new version", async () => {
    const [holder, lazy] = [scratch.dir(), scratch.dir()];
    put(holder, "keep.txt", "k");
    await replicate(holder, lazy, new LentoServer(holder, { owner: false }), { lazy: true, owner: false });
    // made on both sides before the replica goes live: adopted by its first sync
    put(holder, "first.txt", "same");
    put(lazy, "first.txt", "same");
    const stop = new AbortController();
    let live = false;
    const errors: unknown[] = [];
    const running = runLive(
      lazy,
      {
        sync: { mirror: false, dryRun: false, maxDeleteFraction: 1, force: false, owner: false, replicaIsSrc: true },
        connect: async () => new LentoServer(holder, { owner: false, callbackTimeoutMs: 2000 }),
        onState: (s) => (live = s.state === "live"),
        onError: (e) => errors.push(e),
      },
      stop.signal,
    );
    try {
      await until(() => live, "live");
      const h = () => row(holder, "first.txt")!.fid;
      assert.equal(row(lazy, "first.txt")!.fid, h(), "adopted by the first sync");
      // made on both sides while live: adopted on the live connection (or taken in from the log)
      put(lazy, "second.txt", "both");
      put(holder, "second.txt", "both");
      await until(() => row(lazy, "second.txt")?.fid === row(holder, "second.txt")?.fid && row(lazy, "second.txt")?.fid !== undefined, "second.txt one object");
      for (const name of ["first.txt", "second.txt"]) {
        assert.equal(row(lazy, name)!.data, true, `${name} has its data`);
        put(holder, name, `changed on the holder: ${name}`);
        const size = `changed on the holder: ${name}`.length;
        await until(() => row(lazy, name)!.size === size && !row(lazy, name)!.data, `${name} a placeholder of the new version`);
        assert.equal(fs.statSync(path.join(lazy, name)).size, size);
      }
      assert.deepEqual(errors, []);
    } finally {
      stop.abort();
      await running;
    }
  });
});
