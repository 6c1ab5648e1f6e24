/**
 * The symlink race (the rsync CVE class): while a sync writes new files into `DEST/d/`, another
 * process swaps `d` between the real directory and a symlink to a directory outside the tree.
 * Nothing may land outside, on the holder or on the replica, in-process or over the stdio
 * protocol; the directory outside keeps its mode. Runs: `IMZ_RACE_RUNS` (default 50) per case.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { Holding, writeStaged } from "../../src/sync/holding.js";
import { syncJson } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";

const RUNS = Number(process.env.IMZ_RACE_RUNS ?? 50);
const FILES = 150;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

/**
 * The attacker: a separate process that waits for the first new file in `dir`, then swaps `dir`
 * between the real directory and a symlink to `outside`, as fast as it can, until it gets SIGTERM;
 * it then leaves the real directory in place.
 */
const SWAPPER = `
const fs = require("node:fs");
const [dir, outside] = process.argv.slice(1);
const real = dir + ".real";
let stop = false;
process.on("SIGTERM", () => { stop = true; });
process.send("ready");
// start once the sync has begun writing into the directory (its scan is done by then)
const arrived = () => { try { return fs.readdirSync(dir).length > 1; } catch { return true; } };
const wait = () => (stop ? process.exit(0) : arrived() ? swap() : setImmediate(wait));
const swap = () => {
  for (let i = 0; i < 200 && !stop; i++) {
    try {
      fs.renameSync(dir, real);
      fs.symlinkSync(outside, dir);
      fs.unlinkSync(dir);
      fs.renameSync(real, dir);
    } catch {}
  }
  if (stop) {
    try { fs.unlinkSync(dir); } catch {}
    try { fs.renameSync(real, dir); } catch {}
    process.exit(0);
  }
  setImmediate(swap);
};
wait();
`;

async function startSwapper(target: string, outside: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["-e", SWAPPER, target, outside], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  await new Promise((resolve) => child.once("message", resolve));
  return child;
}

async function stopSwapper(child: ChildProcess): Promise<void> {
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await gone;
}

async function* chunks(text: string): AsyncGenerator<Buffer> {
  yield Buffer.from(text);
}

function writeFiles(root: string, prefix: string): void {
  for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(root, "d", `${prefix}${i}`), `${prefix} ${i}\n`.repeat(1 + (i % 40)));
}

/**
 * One run: `writer` gets 150 new files in `d/`, the sync brings them to `victim` while `victim/d`
 * is being swapped with a symlink to `outside`. Anything created in `outside`, even for a moment,
 * fails the run.
 */
async function raceOnce(run: number, transport: string, toHolder: boolean, outside: string): Promise<void> {
  const replica = dir("imz-race-r-");
  const holder = dir("imz-race-h-");
  fs.mkdirSync(path.join(replica, "d"));
  fs.writeFileSync(path.join(replica, "d", "seed"), "seed\n");
  const first = await syncJson([replica, holder, "--transport", transport]);
  assert.equal(first.code, 0, first.stderr);
  const [writer, victim] = toHolder ? [replica, holder] : [holder, replica];
  writeFiles(writer, `r${run}-`);
  const created: string[] = [];
  const watcher = fs.watch(outside, (_event, name) => created.push(String(name)));
  const swapper = await startSwapper(path.join(victim, "d"), outside);
  let r;
  try {
    r = await syncJson([replica, holder, "--transport", transport, "--force"]);
  } finally {
    await stopSwapper(swapper);
    watcher.close();
  }
  assert.deepEqual(fs.readdirSync(outside), [], `run ${run}: written outside the tree (exit ${r.code}: ${r.stderr})`);
  assert.deepEqual(created, [], `run ${run}: files appeared outside the tree meanwhile`);
  assert.equal(fs.statSync(outside).mode & 0o7777, 0o700, `run ${run}: the outside directory's mode changed`);
  assert.ok([0, 3, 4].includes(r.code), `run ${run}: exit ${r.code}: ${r.stderr}`);
  fs.rmSync(replica, { recursive: true, force: true });
  fs.rmSync(holder, { recursive: true, force: true });
}

describe("the symlink race: a directory swapped with a symlink to outside while files arrive", () => {
  for (const transport of ["in-process", "stdio"]) {
    for (const toHolder of [true, false]) {
      it(`writes nothing outside the ${toHolder ? "holder" : "replica"} (${transport}, ${RUNS} runs)`, async () => {
        const outside = dir("imz-race-out-");
        fs.chmodSync(outside, 0o700);
        for (let run = 0; run < RUNS; run++) await raceOnce(run, transport, toHolder, outside);
      });
    }
  }
  it("a temp area swapped for a symlink after the sync opened it: staged files still land inside", async () => {
    const root = dir("imz-race-tmp-");
    const outside = dir("imz-race-out-");
    const set = FileSet.init(root);
    try {
      const holding = new Holding(set);
      const first = holding.tempPath();
      await writeStaged(first, chunks("before"));
      const tmp = path.join(root, ".intermezzo", "tmp");
      fs.renameSync(tmp, `${tmp}.real`);
      fs.symlinkSync(outside, tmp);
      const second = holding.tempPath();
      await writeStaged(second, chunks("after the swap"));
      assert.deepEqual(fs.readdirSync(outside), []);
      assert.deepEqual(fs.readdirSync(`${tmp}.real`).sort(), [path.basename(first), path.basename(second)].sort());
    } finally {
      set.close();
    }
  });
});
