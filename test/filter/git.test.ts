/**
 * git through a Presto mount, then sync: git's loose objects (temp file, link, unlink), lock files
 * renamed over refs and the index, packs and gc replicate exactly — the holder's and a new replica's
 * `git fsck` are clean and their `git log` is the mount's.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets } from "../../src/sync/sync.js";
import { manifest, tempDir } from "../helpers/tree.js";
import { assertJournalComplete, sh, withFilteredReplica } from "./fuse-helpers.js";

const GIT = "git -c user.name=t -c user.email=t@example.org -c gc.auto=0";
const LOG = "git log --all --format='%H %P %s'";

describe("git through the mount replicates", () => {
  it("clone, commits, a branch checkout and gc: fsck clean and the same log on the holder and a new replica", async () => {
    const work = tempDir("imz-git-src-");
    const fresh = tempDir("imz-git-fresh-");
    try {
      await sh(`git init -q src && cd src && for i in $(seq 1 30); do echo "line $i" >> file; echo $i > "f$((i % 7))"; ${GIT} add -A; ${GIT} commit -qm "c$i"; done`, work);
      await withFilteredReplica(async (r) => {
        await sh(`git clone -q ${path.join(work, "src")} repo`, r.mnt);
        const repo = path.join(r.mnt, "repo");
        await sh(`for i in 1 2 3; do echo "mounted $i" >> file; ${GIT} commit -qam "m$i"; done`, repo);
        await assertJournalComplete(r);
        await sh(`${GIT} checkout -qb side HEAD~2 && echo side > side.txt && ${GIT} add side.txt && ${GIT} commit -qm s1 && ${GIT} checkout -q master`, repo);
        await sh(`${GIT} gc -q && ${GIT} commit -q --allow-empty -m after-gc`, repo);
        await assertJournalComplete(r);
        const log = await sh(LOG, repo);
        assert.match(log, /after-gc/);
        assert.equal(await sh(LOG, path.join(r.holder, "repo")), log, "the holder's log");
        await sh("git fsck --strict --no-dangling", path.join(r.holder, "repo"));
        const s = await syncFileSets(fresh, new LentoServer(r.holder, { owner: true }), { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: true, replicaIsSrc: true });
        assert.deepEqual([s.conflicts, s.problems], [[], []]);
        assert.deepEqual(manifest(fresh), manifest(r.holder), "a new replica is the holder's tree");
        assert.equal(await sh(LOG, path.join(fresh, "repo")), log, "a new replica's log");
        await sh("git fsck --strict --no-dangling", path.join(fresh, "repo"));
      });
    } finally {
      for (const d of [work, fresh]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
