/**
 * Conflict settlement killed at every step: update/update conflicts settled with policy `both`, the
 * sync SIGKILLed at the N-th settlement step (`IMZ_CRASH_AT_STEP`, see src/sync/settle-intent.ts),
 * for every N until a run gets through. After each kill, reruns converge: the trees are identical,
 * both versions of every file are there (one under its name, one as a conflict copy), and no copy
 * was renamed a second time.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { SYNC_BIN } from "../helpers/cli.js";
import { manifest, tempDir } from "../helpers/tree.js";

const FILES = 3;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/**
 * Runs one sync in a process group of its own and waits until the whole group is gone (a killed
 * sync's `serve --stdio` child exits once its stdin ends; until then it holds the holder's lock).
 * `code` is -1 when the sync was killed.
 */
async function sync(a: string, b: string, transport: string, crashAt?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  if (crashAt !== undefined) env["IMZ_CRASH_AT_STEP"] = String(crashAt);
  else delete env["IMZ_CRASH_AT_STEP"];
  const child = spawn(process.execPath, [SYNC_BIN, "--policy", "both", "--transport", transport, a, b], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  for (;;) {
    try {
      process.kill(-child.pid!, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { code, stdout, stderr };
}

/** The contents of `name` and of its conflict copies in `root`, sorted. */
function versions(root: string, name: string): string[] {
  return fs
    .readdirSync(root)
    .filter((n) => n === name || n.startsWith(`${name}.conflict-`))
    .map((n) => fs.readFileSync(path.join(root, n), "utf8"))
    .sort();
}

/** One round: a conflict per file, the settling sync killed at step `step`; true when it was killed. */
async function killAtStep(step: number, transport: string): Promise<boolean> {
  const a = tempDir("imz-settle-a-");
  const b = tempDir("imz-settle-b-");
  dirs.push(a, b);
  for (let i = 0; i < FILES; i++) fs.writeFileSync(path.join(a, `f${i}`), `base ${i}\n`);
  assert.equal((await sync(a, b, transport)).code, 0);
  for (let i = 0; i < FILES; i++) {
    fs.writeFileSync(path.join(a, `f${i}`), `replica ${i}\n`);
    fs.writeFileSync(path.join(b, `f${i}`), `holder ${i}\n`);
  }
  const crashed = await sync(a, b, transport, step);
  const killed = crashed.code === -1;
  if (!killed) assert.equal(crashed.code, 3, `step ${step}: ${crashed.stderr}`);
  let last = crashed;
  for (let rerun = 0; rerun < 3 && (killed || rerun === 0); rerun++) {
    last = await sync(a, b, transport);
    assert.ok([0, 3].includes(last.code), `step ${step}, rerun ${rerun}: exit ${last.code}: ${last.stderr}`);
    if (last.code === 0) break;
  }
  const settled = await sync(a, b, transport);
  assert.equal(settled.code, 0, `step ${step}: still not settled: ${settled.stderr}${settled.stdout}`);
  assert.deepEqual(manifest(a), manifest(b), `step ${step}: the trees differ`);
  for (let i = 0; i < FILES; i++) {
    const have = versions(a, `f${i}`);
    assert.ok(have.includes(`replica ${i}\n`) && have.includes(`holder ${i}\n`), `step ${step}: f${i} lost a version: ${JSON.stringify(have)}`);
  }
  for (const n of fs.readdirSync(a)) assert.ok(n.split(".conflict-").length <= 2, `step ${step}: a copy renamed twice: ${n}`);
  fs.rmSync(a, { recursive: true, force: true });
  fs.rmSync(b, { recursive: true, force: true });
  return killed;
}

describe("conflict settlement killed at every step converges on rerun", () => {
  for (const transport of ["in-process", "stdio"]) {
    it(`policy both, ${FILES} update/update conflicts (${transport})`, async () => {
      let step = 1;
      while (await killAtStep(step, transport)) step++;
      assert.ok(step > 2 * FILES, `only ${step - 1} steps were reached`);
    });
  }
});
