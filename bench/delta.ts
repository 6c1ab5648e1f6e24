/**
 * `intermezzo delta` vs `rdiff` on a 256 MiB file: signature, delta and patch throughput (MB/s of
 * the 256 MiB file, best of 3 runs) for three edit patterns, with delta sizes and time ratios.
 * Three columns: `rdiff`; the `intermezzo delta` CLI (includes Node start-up and loading every
 * verb's modules); and the same work in-process through `src/sync/delta` (the engine alone).
 *
 *   node --import tsx bench/delta.ts
 *
 * The CLI is run from `dist` (after `npx tsc -p tsconfig.build.json`) when built, else via tsx.
 */
import { execFile } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { pipeline } from "node:stream/promises";
import { createReadStream, createWriteStream } from "node:fs";
import { deltaFile, patchFile, signatureFile } from "../src/sync/delta/index.js";
import { binding } from "../src/sync/delta/native.js";

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SIZE = 256 * 1024 * 1024;
const KiB = 1024;
const RUNS = 3;

type Tool = "rdiff" | "cli" | "lib";
type Op = "signature" | "delta" | "patch";

/** The command line running `intermezzo`. */
function intermezzoCommand(): { args: string[]; note: string } {
  if (existsSync(join(ROOT, "dist/bin/intermezzo.js"))) return { args: [join(ROOT, "bin/intermezzo")], note: "built CLI (dist)" };
  return { args: ["--import", "tsx", join(ROOT, "test/delta/cli-main.ts")], note: "sources via tsx (no dist build)" };
}

/** Replaces `count` evenly spread, jittered regions of `length` bytes with fresh random bytes. */
function scatterEdits(base: Buffer, count: number, length: number): Buffer {
  const out = Buffer.from(base);
  const stride = Math.floor(out.length / count);
  for (let i = 0; i < count; i++) {
    const at = i * stride + ((i * 7919) % Math.max(1, stride - length));
    randomFillSync(out, at, Math.min(length, out.length - at));
  }
  return out;
}

const SCENARIOS: Array<{ name: string; make: (base: Buffer) => Buffer }> = [
  { name: "(a) one 1 KiB insert in the middle", make: (b) => Buffer.concat([b.subarray(0, SIZE / 2), randomFillSync(Buffer.alloc(KiB)), b.subarray(SIZE / 2)]) },
  { name: "(b) 64 scattered 41 KiB edits", make: (b) => scatterEdits(b, 64, 41 * KiB) },
  { name: "(c) 2,621 scattered 1 KiB edits", make: (b) => scatterEdits(b, 2621, KiB) },
];

async function best(work: () => Promise<unknown>): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    await work();
    min = Math.min(min, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return min;
}

const mbps = (seconds: number): string => `${(SIZE / 1e6 / seconds).toFixed(0).padStart(5)} MB/s ${`(${seconds.toFixed(2)} s)`.padEnd(9)}`;

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "imz-bench-delta-"));
  const p = (name: string): string => join(dir, name);
  const imz = intermezzoCommand();
  const version = (await exec("rdiff", ["--version"])).stdout.split("\n")[0];
  console.log(`bench/delta: 256 MiB random file, best of ${RUNS}; CLI = ${imz.note}; ${version}; addon linked to librsync ${binding().librsyncVersion}`);
  console.log(`CLI start-up alone (intermezzo --help): ${(await best(() => exec(process.execPath, [...imz.args, "--help"]))).toFixed(2)} s`);

  /** Runs one operation with one tool; outputs go to `<tool>.sig|.delta|.out`. */
  const run = async (tool: Tool, op: Op): Promise<void> => {
    const files: Record<Op, [string, string, string?]> = {
      signature: [p("old"), p(`${tool}.sig`)],
      delta: [p(`${tool}.sig`), p("new"), p(`${tool}.delta`)],
      patch: [p("old"), p(`${tool}.delta`), p(`${tool}.out`)],
    };
    const [a, b, c] = files[op];
    if (tool === "rdiff") await exec("rdiff", ["-f", op, a, b, ...(c ? [c] : [])]);
    else if (tool === "cli") await exec(process.execPath, [...imz.args, "delta", op, "-f", a, b, ...(c ? [c] : [])]);
    else if (op === "signature") await pipeline(await signatureFile(a, { blockLength: 0, strongLength: 0 }), createWriteStream(b));
    else if (op === "delta") await pipeline(await deltaFile(await readFile(a), b), createWriteStream(c as string));
    else await patchFile(a, createReadStream(b, { highWaterMark: 1 << 20 }), c as string);
  };

  const line = async (label: string, op: Op, extra: () => Promise<string>): Promise<void> => {
    const t: Record<Tool, number> = { rdiff: await best(() => run("rdiff", op)), cli: await best(() => run("cli", op)), lib: await best(() => run("lib", op)) };
    console.log(
      `  ${label.padEnd(10)} rdiff ${mbps(t.rdiff)} | intermezzo CLI ${mbps(t.cli)} ${(t.cli / t.rdiff).toFixed(2)}x | in-process ${mbps(t.lib)} ${(t.lib / t.rdiff).toFixed(2)}x time${await extra()}`,
    );
  };

  try {
    const base = randomFillSync(Buffer.allocUnsafe(SIZE));
    await writeFile(p("old"), base);
    await line("signature", "signature", async () => {
      const same = (await readFile(p("cli.sig"))).equals(await readFile(p("rdiff.sig"))) && (await readFile(p("lib.sig"))).equals(await readFile(p("rdiff.sig")));
      return `  identical bytes: ${same}`;
    });
    for (const scenario of SCENARIOS) {
      const expected = scenario.make(base);
      await writeFile(p("new"), expected);
      console.log(scenario.name);
      await line("delta", "delta", async () => {
        const sizes = await Promise.all((["rdiff", "cli", "lib"] as const).map(async (tool) => (await stat(p(`${tool}.delta`))).size));
        return `  delta bytes ${sizes.join(" / ")}`;
      });
      await line("patch", "patch", async () => {
        for (const tool of ["rdiff", "cli", "lib"]) if (!(await readFile(p(`${tool}.out`))).equals(expected)) throw new Error(`${tool} patch output differs`);
        return "  outputs verified";
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
