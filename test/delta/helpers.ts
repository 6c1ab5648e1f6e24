/**
 * Shared pieces of the delta tests: seeded random bytes, edits, the real `rdiff` command, temp dirs
 * and an event-loop lag probe.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** Deterministic bytes from a seed (xorshift32; fast, not cryptographic). */
export function seededBytes(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 0x9e3779b9;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  for (; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** One edit applied to a file's bytes; positions are fractions of the current length. */
export type Edit =
  | { kind: "insert"; at: number; length: number; seed: number }
  | { kind: "delete"; at: number; length: number }
  | { kind: "replace"; at: number; length: number; seed: number }
  | { kind: "append"; length: number; seed: number }
  | { kind: "truncate"; keep: number };

/** Applies edits in order; each position is `Math.floor(at × current length)`. */
export function applyEdits(base: Buffer, edits: readonly Edit[]): Buffer {
  let data = base;
  for (const e of edits) {
    const pos = "at" in e ? Math.floor(e.at * data.length) : 0;
    switch (e.kind) {
      case "insert":
        data = Buffer.concat([data.subarray(0, pos), seededBytes(e.seed, e.length), data.subarray(pos)]);
        break;
      case "delete":
        data = Buffer.concat([data.subarray(0, pos), data.subarray(Math.min(data.length, pos + e.length))]);
        break;
      case "replace": {
        const len = Math.min(e.length, data.length - pos);
        data = Buffer.concat([data.subarray(0, pos), seededBytes(e.seed, len), data.subarray(pos + len)]);
        break;
      }
      case "append":
        data = Buffer.concat([data, seededBytes(e.seed, e.length)]);
        break;
      case "truncate":
        data = data.subarray(0, Math.floor(e.keep * data.length));
        break;
    }
  }
  return data;
}

/** Runs the real `rdiff` with arguments; rejects on a non-zero exit. */
export async function rdiff(...args: string[]): Promise<void> {
  await exec("rdiff", args, { maxBuffer: 1 << 20 });
}

/**
 * A fresh temporary directory, and a function removing it. With `inMemory` it is on /dev/shm when
 * there is one: tmpfs reads holes of sparse files ~30× faster than a disk filesystem (which zero-fills
 * page cache for them), so multi-GiB sparse tests measure librsync rather than the kernel.
 */
export async function tempDir(prefix = "imz-delta-", inMemory = false): Promise<{ dir: string; path: (name: string) => string; cleanup: () => Promise<void> }> {
  const base = inMemory && existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const dir = await mkdtemp(join(base, prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Event-loop lag seen while `work` ran: the largest delay of a 10 ms timer, and the histogram's p99. */
export interface LagReport {
  maxTimerLagMs: number;
  p99DelayMs: number;
  samples: number;
}

/**
 * Runs `work` while a 10 ms interval timer measures how late it fires (and the event loop delay
 * histogram records), then prints and returns the report.
 */
export async function measureEventLoopLag<T>(label: string, work: () => Promise<T>): Promise<{ result: T; lag: LagReport }> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  const period = 10;
  let last = performance.now();
  let maxLag = 0;
  let samples = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxLag = Math.max(maxLag, now - last - period);
    last = now;
    samples++;
  }, period);
  histogram.enable();
  try {
    const result = await work();
    const lag = { maxTimerLagMs: maxLag, p99DelayMs: histogram.percentile(99) / 1e6, samples };
    console.log(`${label}: event loop lag max ${lag.maxTimerLagMs.toFixed(1)} ms, p99 ${lag.p99DelayMs.toFixed(1)} ms over ${samples} ticks`);
    return { result, lag };
  } finally {
    clearInterval(timer);
    histogram.disable();
  }
}
