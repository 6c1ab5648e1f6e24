/**
 * `intermezzo delta signature|delta|patch`: the three operations of `rdiff`, with the same file
 * arguments (a missing argument or `-` is stdin/stdout) and options, producing and reading
 * byte-identical signature and delta files. Defaults are rdiff 2.3's: blake2, rabinkarp, block
 * length and sum length from librsync's rules for the basis's size (2048 / maximum on a pipe).
 */
import { createWriteStream, type Stats } from "node:fs";
import { fstat as fstatCb } from "node:fs";
import { open, stat } from "node:fs/promises";
import { promisify } from "node:util";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Option, InvalidArgumentError, type Command } from "commander";
import { ImzError } from "../errors.js";
import { runAction } from "./exit.js";
import { deltaStream, loadSignature, patchStream, signatureStream, type JobReadable } from "../sync/delta/index.js";
import { READ_CHUNK, readReused, type ByteSource } from "../sync/delta/job.js";
import type { RollingSum, StrongHash } from "../sync/delta/options.js";

const PROG = "intermezzo";
const fstat = promisify(fstatCb);

/** Options shared by the three verbs. */
interface CommonOptions {
  force?: boolean;
  statistics?: boolean;
}

/** Options of `delta signature`. */
interface SignatureCliOptions extends CommonOptions {
  blockSize: number;
  sumSize: number;
  hash: StrongHash;
  rollsum: RollingSum;
}

function integer(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError("not an integer");
  return Number(value);
}

const isStdio = (name: string | undefined): boolean => name === undefined || name === "-";

/** An input file (or stdin) and its size when it is a regular file (-1 otherwise, as rdiff). */
async function openInput(name: string | undefined): Promise<{ stream: ByteSource; size: number }> {
  if (isStdio(name)) {
    const st: Stats = await fstat(0);
    return { stream: process.stdin, size: st.isFile() ? st.size : -1 };
  }
  const handle = await open(name as string, "r");
  const st = await handle.stat();
  return { stream: readReused(handle), size: st.isFile() ? st.size : -1 };
}

/** Where output goes: stdout, or a new file (an existing one only with --force, as rdiff). */
async function openOutput(name: string | undefined, force: boolean): Promise<Writable> {
  if (isStdio(name)) return process.stdout;
  const path = name as string;
  if (!force && (await stat(path).catch(() => null)) !== null) {
    throw new ImzError("USAGE", `output file ${path} exists`, { path, hint: "remove it or pass --force" });
  }
  const out = createWriteStream(path, { flags: "w", highWaterMark: 4 * READ_CHUNK });
  await new Promise<void>((resolve, reject) => out.once("open", () => resolve()).once("error", reject));
  return out;
}

async function emit(stream: JobReadable, outName: string | undefined, opts: CommonOptions): Promise<void> {
  await pipeline(stream, await openOutput(outName, opts.force === true));
  if (opts.statistics) process.stderr.write(`${PROG}: ${JSON.stringify(stream.stats())}\n`);
}

async function signatureCommand(basis: string | undefined, out: string | undefined, opts: SignatureCliOptions): Promise<void> {
  const input = await openInput(basis);
  const stream = signatureStream(input.stream, input.size, {
    blockLength: opts.blockSize,
    strongLength: opts.sumSize,
    hash: opts.hash,
    rollsum: opts.rollsum,
  });
  await emit(stream, out, opts);
}

async function deltaCommand(sig: string, newFile: string | undefined, out: string | undefined, opts: CommonOptions): Promise<void> {
  if (isStdio(sig) && isStdio(newFile)) {
    throw new ImzError("USAGE", "the signature and the new file cannot both be stdin", { hint: "name one of them" });
  }
  const loaded = await loadSignature((await openInput(sig)).stream);
  await emit(deltaStream(loaded, (await openInput(newFile)).stream), out, opts);
}

async function patchCommand(basis: string, delta: string | undefined, out: string | undefined, opts: CommonOptions): Promise<void> {
  if (isStdio(basis)) {
    throw new ImzError("USAGE", "the basis must be a file: patch reads it at random offsets", { hint: "name the basis file" });
  }
  const handle = await open(basis, "r");
  try {
    await emit(patchStream(handle.fd, (await openInput(delta)).stream), out, opts);
  } finally {
    await handle.close();
  }
}

/** Registers `intermezzo delta` and its three verbs. */
export function register(program: Command): void {
  const delta = program
    .command("delta")
    .description("librsync signatures, deltas and patches, byte-compatible with rdiff (files or - for stdin/stdout)");
  const common = (cmd: Command): Command =>
    cmd.option("-f, --force", "overwrite an existing output file").option("-s, --statistics", "print librsync statistics on stderr");

  common(
    delta
      .command("signature")
      .description("write the signature of BASIS")
      .argument("[basis]", "basis file, or - for stdin")
      .argument("[signature]", "signature file to write, or - for stdout")
      .addOption(new Option("-b, --block-size <bytes>", "block length, 0 for librsync's recommendation").argParser(integer).default(0))
      .addOption(new Option("-S, --sum-size <bytes>", "strong sum length, 0 for the maximum, -1 for the minimum").argParser(integer).default(0))
      .addOption(new Option("-H, --hash <alg>", "strong hash").choices(["blake2", "md4"]).default("blake2"))
      .addOption(new Option("-R, --rollsum <alg>", "rolling checksum").choices(["rabinkarp", "rollsum"]).default("rabinkarp")),
  ).action((basis: string | undefined, out: string | undefined, opts: SignatureCliOptions) =>
    runAction(PROG, () => signatureCommand(basis, out, opts)),
  );

  common(
    delta
      .command("delta")
      .description("write the delta from SIGNATURE's basis to NEWFILE")
      .argument("<signature>", "signature file, or - for stdin")
      .argument("[newfile]", "new file, or - for stdin")
      .argument("[delta]", "delta file to write, or - for stdout"),
  ).action((sig: string, newFile: string | undefined, out: string | undefined, opts: CommonOptions) =>
    runAction(PROG, () => deltaCommand(sig, newFile, out, opts)),
  );

  common(
    delta
      .command("patch")
      .description("apply DELTA to BASIS, writing NEWFILE")
      .argument("<basis>", "basis file (must be a file)")
      .argument("[delta]", "delta file, or - for stdin")
      .argument("[newfile]", "new file to write, or - for stdout"),
  ).action((basis: string, deltaFile: string | undefined, out: string | undefined, opts: CommonOptions) =>
    runAction(PROG, () => patchCommand(basis, deltaFile, out, opts)),
  );
}
