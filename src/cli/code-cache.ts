/**
 * Loading `intermezzo-sync`, and `intermezzo` for `serve --stdio` (the holder of every stdio or SSH
 * sync), with V8's code cache. Node 20 has no compile cache for ES modules
 * (`module.enableCompileCache` came in 22.1), and a cron job's sync pays for compiling the program
 * on every run: about 40 ms of CPU for the chunks a local sync loads, a fifth of a no-change resync
 * of 30,000 files. The build also makes the whole `intermezzo-sync` program as one CommonJS bundle
 * (`dist/bin/intermezzo-sync.cjs`, the same sources); it is compiled here through `vm.Script` with
 * the code V8 serialised after an earlier run (`<bundle>.v8cache`, beside it), so the functions that
 * run compiled then are deserialised instead of parsed and compiled again.
 *
 * The cache is only ever a saving. V8 refuses data made by another V8 version or with other flags
 * (`cachedDataRejected`), and this module refuses data made for another bundle: the file starts with
 * the bundle's size and modification time, and a rebuild (which also deletes `dist/bin/`) or any edit
 * changes them. A refused or missing cache is made again after the run ({@link CachedModule.save}),
 * written to a temporary name and renamed over, so a concurrent run reads the old file or the new
 * one. A directory that cannot be written (an installation owned by another user) is no error: the
 * program then simply runs without a cache.
 *
 * A long run makes a poor cache: V8 drops the bytecode of functions that have not run for a while
 * (at full collections), the bundle's top level and its start-up among them, so a cache written
 * after a first copy of 30,000 files made every later start parse the whole bundle again and
 * compile its start-up (an empty sync: 70–75 ms of CPU against 55–58 ms with a cache written after
 * a short run). A cache written after a run longer than {@link LONG_RUN_MS} is marked so, and the
 * next short run writes it again.
 */
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

/** A CommonJS bundle loaded by {@link loadWithCodeCache}. */
export interface CachedModule<T> {
  /** What the bundle exported. */
  exports: T;
  /** True when V8 used the cache that was there. */
  readonly cacheUsed: boolean;
  /**
   * Writes the code cache when there was none this bundle could use, or the one there was written
   * after a long run and this one (`runMs`) was short. Called after the run, so the cache also
   * holds the functions the run compiled. Never throws.
   */
  save(runMs: number): void;
}

/** A run longer than this (ms) writes a cache marked as a long run's, which the next short run replaces. */
export const LONG_RUN_MS = 1000;

/** Suffix of the cache file beside the bundle. */
export const CACHE_SUFFIX = ".v8cache";

/** What the cache file starts with: the bundle's size and modification time, `:long` after a long run, then a newline. */
function keyOf(file: string): string {
  const st = fs.statSync(file, { bigint: true });
  return `${st.size}:${st.mtimeNs}`;
}

/** The V8 data of `cacheFile` when it was made for this bundle (`key`), and whether after a long run; else undefined. */
function readCache(cacheFile: string, key: string): { data: Buffer; long: boolean } | undefined {
  let data: Buffer;
  try {
    data = fs.readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  for (const long of [false, true]) {
    const head = Buffer.from(`${key}${long ? ":long" : ""}\n`);
    if (data.length > head.length && data.subarray(0, head.length).equals(head)) return { data: data.subarray(head.length), long };
  }
  return undefined;
}

/**
 * Loads and runs the CommonJS bundle `bundle` (a path or file URL) as Node's loader would — with
 * `require` resolving from the bundle's directory, `__filename` and `__dirname` set — through the
 * code cache beside it.
 */
export function loadWithCodeCache<T>(bundle: string | URL): CachedModule<T> {
  const file = typeof bundle === "string" ? bundle : fileURLToPath(bundle);
  const cacheFile = file + CACHE_SUFFIX;
  const key = keyOf(file);
  const cached = readCache(cacheFile, key);
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(file, "utf8")}\n})`, {
    filename: file,
    ...(cached ? { cachedData: cached.data } : {}),
  });
  const cacheUsed = cached !== undefined && !script.cachedDataRejected;
  const mod = { exports: {} as T };
  (script.runInThisContext() as (...args: unknown[]) => void).call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file));
  return {
    exports: mod.exports,
    cacheUsed,
    save: (runMs) => {
      const long = runMs > LONG_RUN_MS;
      if (cacheUsed && (long || !cached!.long)) return;
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        fs.writeFileSync(tmp, Buffer.concat([Buffer.from(`${key}${long ? ":long" : ""}\n`), script.createCachedData()]), { mode: 0o644 });
        fs.renameSync(tmp, cacheFile);
      } catch {
        fs.rmSync(tmp, { force: true });
      }
    },
  };
}
