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
import { signatureOfFile } from "../../src/sync/delta/index.js";
import { SIGNATURE_OPTIONS } from "../../src/sync/delta-transfer.js";
import { keptSignature, SIGNATURES_DIR } from "../../src/sync/kept-signatures.js";
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

/** Asserts that every kept signature in `root` whose key holds is the signature of its file as it is. */
async function checkKeptSignatures(root: string): Promise<number> {
  const dir = path.join(root, ".intermezzo", SIGNATURES_DIR);
  const set = FileSet.open(root);
  let valid = 0;
  try {
    for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      const fid = name.replace("-", ":");
      if (!set.fsdb.get(fid)) continue;
      const fd = fs.openSync(path.join(root, set.fsdb.pathOf(fid)), "r");
      try {
        const kept = keptSignature(set, fid, fd, SIGNATURE_OPTIONS);
        if (kept === undefined) continue;
        assert.ok(kept.equals(await signatureOfFile(fd, SIGNATURE_OPTIONS)), `the kept signature of ${fid} describes its file`);
        valid++;
      } finally {
        fs.closeSync(fd);
      }
    }
  } finally {
    set.close();
  }
  return valid;
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

  it("a sync killed while it builds or keeps a signature leaves none that would be used wrongly", async () => {
    const a = tempDir("imz-crash-");
    const b = tempDir("imz-crash-");
    dirs.push(a, b);
    const big = path.join(a, "big.bin");
    writeLargeFile(big, 32 << 20, 7);
    assert.equal((await syncJson([a, b])).code, 0);
    const keptIno = (): number | undefined => {
      const dir = path.join(b, ".intermezzo", SIGNATURES_DIR);
      const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
      return names.length === 0 ? undefined : fs.statSync(path.join(dir, names[0]!)).ino;
    };
    for (let round = 0; round < 4; round++) {
      const fd = fs.openSync(big, "r+");
      fs.writeSync(fd, Buffer.alloc(4096, round + 1), 0, 4096, (round + 1) * (5 << 20));
      fs.closeSync(fd);
      const before = keptIno();
      // even rounds: while the new version is staged (its signature half built); odd rounds: as soon
      // as the new signature is renamed into place (or whenever the sync ends first)
      const when = round % 2 === 0 ? () => leftoverTemps(b).length > 0 : () => keptIno() !== before;
      const killed = await killAfter(SYNC_BIN, [a, b], 120_000, when);
      if (round % 2 === 0) assert.ok(killed, "killed while the new version (and its signature) was being staged");
      checkDatabase(b);
      await checkKeptSignatures(b);
      const r = await syncJson([a, b]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(manifest(b), manifest(a));
      assert.deepEqual(leftoverTemps(a).concat(leftoverTemps(b)), []);
      // a kill between the commit and the keeping leaves the version without one (signed afresh when needed)
      assert.ok((await checkKeptSignatures(b)) <= 1);
    }
  });
});
