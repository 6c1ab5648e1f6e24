/**
 * The connection cut in the middle of a 200 MiB transfer over SSH: `bin/intermezzo-sync` talks to a
 * real sshd through a loopback TCP relay that resets both sides once 64 MiB have gone up. The run
 * must end (no hang) with exit 6 and CONNECTION_LOST, and the remote `serve --stdio` must exit too
 * (it holds the file set open); a rerun completes; both trees are then
 * identical by manifest and neither has a temp file left. Then the same while the replica fetches a
 * 48 MiB file made on the holder (cut after 12 MiB down). And the same while small files travel in
 * batches, up and down: every file installed is whole.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { SYNC_BIN, type CliResult } from "../helpers/cli.js";
import { startRelay, type Relay } from "../helpers/relay.js";
import { clientHome, REMOTE_SERVE, type ClientHome } from "../helpers/remote.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { leftoverTemps, makeVariedTree, manifest, tempDir, writeLargeFile } from "../helpers/tree.js";

const LARGE = 200 << 20;
const CUT_AFTER = 64 << 20;
/** Small files (about 3 KiB each; 0.6 MiB of records) for the batched case, cut after {@link SMALL_CUT} bytes. */
const SMALL_FILES = 1500;
const SMALL_CUT = 2 << 20;
/** A holder-side file the replica is fetching when the second cut comes. */
const FETCHED = 48 << 20;

let sshd: TestSshd;
let relay: Relay;
let scratch: string;
let home: ClientHome;

before(async () => {
  sshd = await startSshd();
  relay = await startRelay(sshd.port);
  scratch = tempDir("imz-cut-");
  const [type, key] = sshd.hostKeyPub.split(" ");
  home = clientHome(path.join(scratch, "home"), sshd, [`[127.0.0.1]:${relay.port} ${type} ${key}`]);
});
after(async () => {
  await relay?.close();
  await sshd?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** Pids of processes whose command line contains every one of `words`. */
function processesWith(words: string[]): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // gone meanwhile
    }
    if (words.every((w) => argv.includes(w))) pids.push(Number(name));
  }
  return pids;
}

/** Waits until no `serve --stdio root` process is left (the holder noticed the cut and exited). */
async function holderGone(root: string, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (processesWith(["serve", "--stdio", root]).length > 0) {
    assert.ok(Date.now() < deadline, `the holder's serve --stdio ${root} is still running ${withinMs} ms after the cut`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs `intermezzo-sync --json args`; kills it by pid (and fails) if it outlives `deadlineMs`. */
function syncWithin(deadlineMs: number, args: string[]): Promise<CliResult & { ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SYNC_BIN, "--json", ...args], { env: home.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      process.kill(child.pid!, "SIGKILL");
      reject(new Error(`intermezzo-sync still running after ${deadlineMs} ms (hang):\n${stderr}`));
    }, deadlineMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
    });
  });
}

describe("intermezzo-sync over SSH when the connection is cut mid-transfer", () => {
  it("exits 6 with CONNECTION_LOST; a rerun completes; trees identical, no temp files on either side (upload, then download)", async () => {
    const local = path.join(scratch, "local");
    const remote = path.join(scratch, "remote");
    fs.mkdirSync(local);
    fs.mkdirSync(remote);
    makeVariedTree(local, { seed: 21, largeFile: LARGE });
    const args = ["-i", home.key, "--remote-command", REMOTE_SERVE, local, `ssh://root@127.0.0.1:${relay.port}${remote}`];

    const cut = relay.cutAfter(CUT_AFTER);
    const broken = await syncWithin(120_000, args);
    await cut;
    assert.equal(broken.code, 6, `exit 6 (REMOTE), got ${broken.code}: ${broken.stderr}`);
    assert.match(broken.stderr, /error \[CONNECTION_LOST\]/, broken.stderr);
    assert.match(broken.stderr, /hint: /);
    assert.doesNotMatch(broken.stderr, /internal error|Unhandled|at .*\.js:\d+/, "a clear message, not a stack trace");
    assert.equal(broken.stdout, "");
    assert.ok(relay.bytes.up < LARGE, "the cut came before the large file was through");
    const partial = fs.existsSync(path.join(remote, "large.bin")) ? fs.statSync(path.join(remote, "large.bin")).size : 0;
    assert.equal(partial, 0, "no torn large.bin on the holder");
    await holderGone(remote, 30_000);

    const rerun = await syncWithin(300_000, args);
    assert.equal(rerun.code, 0, rerun.stderr);
    const summary = JSON.parse(rerun.stdout.trim().split("\n").at(-1)!) as { conflicts: unknown[]; problems: unknown[] };
    assert.deepEqual([summary.conflicts, summary.problems], [[], []]);
    assert.deepEqual(manifest(remote), manifest(local));
    assert.deepEqual(leftoverTemps(local), [], "no temp files on the replica");
    assert.deepEqual(leftoverTemps(remote), [], "no temp files on the holder");

    // The other direction: a file made on the holder, the connection cut while the replica fetches it.
    writeLargeFile(path.join(remote, "from-holder.bin"), FETCHED, 33);
    const cutDown = relay.cutAfter(FETCHED / 4, "down");
    const fetching = await syncWithin(120_000, args);
    await cutDown;
    assert.equal(fetching.code, 6, `exit 6 (REMOTE), got ${fetching.code}: ${fetching.stderr}`);
    assert.match(fetching.stderr, /error \[CONNECTION_LOST\]/, fetching.stderr);
    assert.equal(fs.existsSync(path.join(local, "from-holder.bin")), false, "no torn file on the replica");
    await holderGone(remote, 30_000);
    const again = await syncWithin(300_000, args);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(manifest(local), manifest(remote));
    assert.deepEqual(leftoverTemps(local).concat(leftoverTemps(remote)), []);
  });

  it("cut in the middle of batched small files, either way: exit 6; every file installed is whole; a rerun converges with no temp file left", async () => {
    const local = path.join(scratch, "small-local");
    const remote = path.join(scratch, "small-remote");
    fs.mkdirSync(local);
    fs.mkdirSync(remote);
    const tree = (root: string, tag: string): void => {
      for (let i = 0; i < SMALL_FILES; i++) {
        fs.mkdirSync(path.join(root, `d${i % 20}`), { recursive: true });
        fs.writeFileSync(path.join(root, `d${i % 20}`, `${tag}${i}.txt`), `${tag} ${i} `.repeat(200 + (i % 300)));
      }
    };
    /** Every file of `part` (except .intermezzo/) has the bytes of the same path in `whole`. */
    const wholeFiles = (part: string, whole: string): void => {
      const full = new Map(manifest(whole).map((w) => [w.path, w.hash]));
      const files = manifest(part).filter((e) => e.type === "f");
      for (const e of files) assert.equal(e.hash, full.get(e.path), `${e.path} is installed whole or not at all`);
    };
    tree(local, "up");
    const args = ["-i", home.key, "--remote-command", REMOTE_SERVE, local, `ssh://root@127.0.0.1:${relay.port}${remote}`];
    const cut = relay.cutAfter(SMALL_CUT);
    const broken = await syncWithin(120_000, args);
    await cut;
    assert.equal(broken.code, 6, `exit 6 (REMOTE), got ${broken.code}: ${broken.stderr}`);
    assert.match(broken.stderr, /error \[CONNECTION_LOST\]/, broken.stderr);
    await holderGone(remote, 30_000);
    wholeFiles(remote, local);
    assert.deepEqual(leftoverTemps(remote), [], "no temp files on the holder");
    const rerun = await syncWithin(300_000, args);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.deepEqual(manifest(remote), manifest(local));

    // The other direction: small files made on the holder, the connection cut while the replica fetches them.
    tree(remote, "down");
    const cutDown = relay.cutAfter(SMALL_CUT, "down");
    const fetching = await syncWithin(120_000, args);
    await cutDown;
    assert.equal(fetching.code, 6, `exit 6 (REMOTE), got ${fetching.code}: ${fetching.stderr}`);
    assert.match(fetching.stderr, /error \[CONNECTION_LOST\]/, fetching.stderr);
    await holderGone(remote, 30_000);
    wholeFiles(local, remote);
    const again = await syncWithin(300_000, args);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(manifest(local), manifest(remote));
    assert.deepEqual(leftoverTemps(local).concat(leftoverTemps(remote)), []);
  });
});
