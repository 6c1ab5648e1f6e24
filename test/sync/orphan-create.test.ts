/**
 * A creation (or move) refused because the holder deleted its directory, while this replica no
 * longer has that directory either: it moved the object on and removed the directory since, in
 * records still pending behind the refused one (a replica journaling offline; the optimiser does
 * not fold a creation with a later move). The `create/delete-parent` settlement revives the
 * directory — but there was none here to revive, so nothing was done, the same conflict came back
 * on every sync and the object never reached the holder. It is now shipped where it is here.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets, type SyncOptions } from "../../src/sync/sync.js";
import { manifest, put, scratchDirs, scanned } from "../helpers/tree.js";

const scratch = scratchDirs("imz-orphan-create-");
after(() => scratch.cleanup());

const sync: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: false, replicaIsSrc: true };

const mv = (root: string, from: string, to: string): void => fs.renameSync(path.join(root, from), path.join(root, to));

/**
 * Each case: what the replica does in d/ (journaled by a scan; then `edited`, journaled by another),
 * then what moves it out before d/ goes; what the holder has in the end.
 */
const cases: Array<{ name: string; made: (r: string) => void; edited?: (r: string) => void; movedOn: (r: string) => void; expect: Record<string, string> }> = [
  {
    name: "a new file moved to a directory the holder has",
    made: (r) => put(r, "d/new.txt", "tok-r-1"),
    movedOn: (r) => mv(r, "d/new.txt", "e/new.txt"),
    expect: { "e/new.txt": "tok-r-1", "e/keep.txt": "k" },
  },
  {
    name: "a new file moved twice, the second time into a directory made here since",
    made: (r) => put(r, "d/new.txt", "tok-r-1"),
    movedOn: (r) => {
      mv(r, "d/new.txt", "d/renamed.txt");
      fs.mkdirSync(path.join(r, "made"));
      mv(r, "d/renamed.txt", "made/new.txt");
    },
    expect: { "made/new.txt": "tok-r-1", "e/keep.txt": "k" },
  },
  {
    name: "a new file moved over a file the holder has (an editor's save)",
    made: (r) => put(r, "d/new.txt", "tok-r-1"),
    movedOn: (r) => mv(r, "d/new.txt", "e/keep.txt"),
    expect: { "e/keep.txt": "tok-r-1" },
  },
  {
    // (an edit between the two moves: adjacent moves of one object fold into one)
    name: "a file the holder has, moved into d/, edited there and moved on",
    made: (r) => mv(r, "e/keep.txt", "d/keep.txt"),
    edited: (r) => fs.writeFileSync(path.join(r, "d/keep.txt"), "tok-r-3"),
    movedOn: (r) => mv(r, "d/keep.txt", "e/moved.txt"),
    expect: { "e/moved.txt": "tok-r-3" },
  },
  {
    name: "a new directory with a file in it, moved on",
    made: (r) => put(r, "d/sub/f.txt", "tok-r-2"),
    movedOn: (r) => mv(r, "d/sub", "e/sub"),
    expect: { "e/sub/f.txt": "tok-r-2", "e/keep.txt": "k" },
  },
];

describe("a creation whose directory both sides removed, its object moved on here", () => {
  for (const c of cases) {
    it(`${c.name}: shipped where it is now, once; the trees converge`, async () => {
      const [replica, holder] = [scratch.dir(), scratch.dir()];
      put(holder, "d/a.txt", "a");
      put(holder, "e/keep.txt", "k");
      await syncFileSets(replica, new LentoServer(holder, { owner: false }), sync);

      // offline, journaled step by step: made in d/, then moved on and d/ removed
      c.made(replica);
      await scanned(replica);
      if (c.edited) {
        c.edited(replica);
        await scanned(replica);
      }
      c.movedOn(replica);
      fs.rmSync(path.join(replica, "d"), { recursive: true });
      await scanned(replica);
      // meanwhile the holder removed d/ too
      fs.rmSync(path.join(holder, "d"), { recursive: true });
      await scanned(holder);

      const first = await syncFileSets(replica, new LentoServer(holder, { owner: false }), sync);
      assert.deepEqual(first.problems, []);
      assert.deepEqual(first.conflicts.map((x) => x.kind), ["create/delete-parent"], "settled once");
      const second = await syncFileSets(replica, new LentoServer(holder, { owner: false }), sync);
      assert.deepEqual([second.conflicts, second.problems, second.recordsShipped], [[], [], 0], "nothing left to settle");
      const files = Object.fromEntries(manifest(holder).filter((e) => e.type === "f").map((e) => [e.path, fs.readFileSync(path.join(holder, e.path), "utf8")]));
      assert.deepEqual(files, c.expect);
      assert.deepEqual(manifest(replica), manifest(holder));
      const set = FileSet.open(replica);
      try {
        assert.equal(set.cml.count(), 0);
      } finally {
        set.close();
      }
    });
  }
});
