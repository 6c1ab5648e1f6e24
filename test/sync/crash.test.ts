/**
 * Crash safety: a scan or a sync killed with SIGKILL at an arbitrary moment leaves both file sets'
 * databases intact and readable, loses no committed record, leaves no torn file in the tree, and a
 * rerun converges with no temp files left behind.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { IMZ_BIN, SYNC_BIN, runCli, syncJson } from "../helpers/cli.js";
import { leftoverTemps, manifest, tempDir, writeLargeFile } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/**
 * Starts `bin args`, kills it (and the holder child it started) with SIGKILL once `when()` holds or
 * after `ms`, and waits for it to be gone. Returns whether it was still running when killed.
 */
async function killAfter(bin: string, args: string[], ms: number, when: () => boolean = () => false): Promise<boolean> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: "ignore", detached: true });
  let exited = false;
  const gone = new Promise((r) => child.on("close", () => r((exited = true))));
  const started = Date.now();
  while (!exited && Date.now() - started < ms && !when()) await new Promise((r) => setTimeout(r, 10));
  const killed = !exited;
  if (killed) process.kill(-child.pid!, "SIGKILL"); // the process group: the sync and its serve child
  await gone;
  await groupGone(child.pid!);
  return killed;
}

/** Waits until no process of group `pgid` is left (the serve child dies a moment after its parent). */
async function groupGone(pgid: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    try {
      process.kill(-pgid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function count(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name === ".intermezzo") continue;
      n++;
      if (e.isDirectory()) walk(path.join(d, e.name));
    }
  };
  walk(dir);
  return n;
}

function makeTree(root: string, files: number): void {
  for (let i = 0; i < files; i++) {
    const d = path.join(root, `d${i % 20}`);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, `f${i}`), `content ${i}\n`.repeat(1 + (i % 50)));
  }
}

function checkDatabase(root: string): number {
  const set = FileSet.open(root);
  try {
    assert.equal(set.db.pragma("integrity_check", { simple: true }), "ok");
    return set.cml.all().length + set.log.head();
  } finally {
    set.close();
  }
}

describe("crash safety", () => {
  it("a scan killed at any moment leaves a usable database; rescanning journals exactly the rest", async () => {
    for (const ms of [150, 400, 900]) {
      const a = tempDir("imz-crash-");
      dirs.push(a);
      makeTree(a, 3000);
      FileSet.init(a, { role: "replica" }).close();
      await killAfter(IMZ_BIN, ["scan", a], ms);
      checkDatabase(a);
      const rescan = await runCli(IMZ_BIN, ["scan", a]); // also takes over the dead process's lock
      assert.equal(rescan.code, 0, rescan.stderr);
      const set = FileSet.open(a);
      try {
        const objects = set.fsdb.count() - 1;
        assert.equal(objects, 3000 + 20, `after a kill at ${ms} ms and a rescan every object is known once`);
        const creates = set.cml.all().filter((r) => r.op === "create" || r.op === "mkdir").length;
        assert.equal(creates, 3020, "each object has exactly one create or mkdir record");
      } finally {
        set.close();
      }
    }
  });

  it("a sync killed mid-transfer converges on rerun, with no torn files and no temp files left", async () => {
    const a = tempDir("imz-crash-");
    const b = tempDir("imz-crash-");
    dirs.push(a, b);
    makeTree(a, 500);
    writeLargeFile(path.join(a, "big.bin"), 64 << 20, 5);
    // Once while small files arrive, once while the large file is being staged.
    assert.ok(await killAfter(SYNC_BIN, [a, b], 120_000, () => count(b) > 100), "killed while small files arrived");
    assert.ok(await killAfter(SYNC_BIN, [a, b], 120_000, () => leftoverTemps(b).length > 0), "killed while staging");
    checkDatabase(a);
    checkDatabase(b);
    // Whatever landed in DEST is complete: every file there equals its source.
    for (const e of manifest(b)) {
      if (e.type !== "f") continue;
      const src = path.join(a, e.path);
      assert.ok(fs.existsSync(src), `${e.path} exists in the source`);
      assert.equal(fs.statSync(src).size, e.size, `${e.path} is not torn`);
    }
    const r = await syncJson([a, b]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(manifest(b), manifest(a));
    assert.deepEqual(leftoverTemps(a).concat(leftoverTemps(b)), []);
    const again = await syncJson([a, b]);
    assert.equal(again.json!.filesSent + again.json!.filesReceived, 0);
  });
});
