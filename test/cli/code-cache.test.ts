/**
 * `intermezzo-sync` compiled through V8's code cache (`src/cli/code-cache.ts`): a bundle runs as
 * CommonJS with its own `require`, `__filename` and `__dirname`; the cache is written after the run
 * and used by the next load (a long run's marked so, and replaced after the next short run); a changed bundle, a cache V8 refuses, and a cache that cannot be
 * written are each no error — the bundle is compiled from its source and runs the same.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { CACHE_SUFFIX, LONG_RUN_MS, loadWithCodeCache } from "../../src/cli/code-cache.js";
import { IMZ_BIN, runCli, SYNC_BIN } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";

interface Bundle {
  answer(): number;
  file: string;
  dir: string;
  sep: string;
}

const SOURCE = `"use strict";
const path = require("node:path");
module.exports = { answer: () => 6 * 7, file: __filename, dir: __dirname, sep: path.sep };
`;

describe("code cache for intermezzo-sync", () => {
  it("runs a CommonJS bundle, writes its cache after the run, and uses it on the next load", () => {
    const dir = tempDir("imz-cc-");
    try {
      const file = path.join(dir, "b.cjs");
      fs.writeFileSync(file, SOURCE);
      const first = loadWithCodeCache<Bundle>(file);
      assert.equal(first.exports.answer(), 42);
      assert.equal(first.exports.file, file);
      assert.equal(first.exports.dir, dir);
      assert.equal(first.exports.sep, "/");
      assert.equal(first.cacheUsed, false);
      assert.equal(fs.existsSync(file + CACHE_SUFFIX), false, "nothing written before save()");
      first.save(0);
      const st = fs.statSync(file, { bigint: true });
      assert.ok(fs.readFileSync(file + CACHE_SUFFIX).subarray(0, 40).toString("latin1").startsWith(`${st.size}:${st.mtimeNs}\n`));
      const second = loadWithCodeCache<Bundle>(file);
      assert.equal(second.cacheUsed, true);
      assert.equal(second.exports.answer(), 42);
      assert.deepEqual(fs.readdirSync(dir).sort(), ["b.cjs", "b.cjs.v8cache"], "no temporary file left");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("does not use a cache made for another bundle, nor one V8 refuses; makes it again", () => {
    const dir = tempDir("imz-cc-");
    try {
      const file = path.join(dir, "b.cjs");
      fs.writeFileSync(file, SOURCE);
      loadWithCodeCache<Bundle>(file).save(0);
      // the same length, other code: only the key (size and mtime) tells them apart
      fs.writeFileSync(file, SOURCE.replace("6 * 7", "7 * 7"));
      fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
      const changed = loadWithCodeCache<Bundle>(file);
      assert.equal(changed.cacheUsed, false);
      assert.equal(changed.exports.answer(), 49);
      changed.save(0);
      assert.equal(loadWithCodeCache<Bundle>(file).cacheUsed, true, "made again for the new bundle");

      // code this process has not compiled yet (V8 keeps what it compiled, and then reads no cache at all)
      fs.writeFileSync(file, SOURCE.replace("6 * 7", "8 * 7"));
      const st = fs.statSync(file, { bigint: true });
      fs.writeFileSync(file + CACHE_SUFFIX, Buffer.concat([Buffer.from(`${st.size}:${st.mtimeNs}\n`), Buffer.alloc(256, 7)]));
      const refused = loadWithCodeCache<Bundle>(file);
      assert.equal(refused.cacheUsed, false, "V8 refused the data");
      assert.equal(refused.exports.answer(), 56);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a cache written after a long run is marked so and written again after the next short run, then kept", () => {
    const dir = tempDir("imz-cc-");
    try {
      const file = path.join(dir, "b.cjs");
      fs.writeFileSync(file, SOURCE);
      const st = fs.statSync(file, { bigint: true });
      const head = (): string => fs.readFileSync(file + CACHE_SUFFIX).subarray(0, 60).toString("latin1").split("\n")[0]!;
      loadWithCodeCache<Bundle>(file).save(LONG_RUN_MS + 1);
      assert.equal(head(), `${st.size}:${st.mtimeNs}:long`);
      const afterLong = loadWithCodeCache<Bundle>(file);
      assert.equal(afterLong.cacheUsed, true, "a long run's cache is used");
      assert.equal(afterLong.exports.answer(), 42);
      afterLong.save(LONG_RUN_MS + 1);
      assert.equal(head(), `${st.size}:${st.mtimeNs}:long`, "another long run leaves it");
      loadWithCodeCache<Bundle>(file).save(5);
      assert.equal(head(), `${st.size}:${st.mtimeNs}`, "a short run writes it again");
      const written = fs.statSync(file + CACHE_SUFFIX).mtimeMs;
      const short = loadWithCodeCache<Bundle>(file);
      assert.equal(short.cacheUsed, true);
      short.save(LONG_RUN_MS + 1);
      short.save(5);
      assert.equal(head(), `${st.size}:${st.mtimeNs}`);
      assert.equal(fs.statSync(file + CACHE_SUFFIX).mtimeMs, written, "a short run's cache is kept by any later run");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a cache that cannot be read or written is no error", () => {
    const dir = tempDir("imz-cc-");
    try {
      const file = path.join(dir, "b.cjs");
      fs.writeFileSync(file, SOURCE);
      fs.mkdirSync(file + CACHE_SUFFIX); // in the way of both the read and the rename
      const m = loadWithCodeCache<Bundle>(file);
      assert.equal(m.cacheUsed, false);
      m.save(0);
      assert.equal(m.exports.answer(), 42);
      assert.deepEqual(fs.readdirSync(dir).sort(), ["b.cjs", "b.cjs.v8cache"], "the temporary file is removed");
      assert.ok(fs.statSync(file + CACHE_SUFFIX).isDirectory());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bin/intermezzo-sync --help and a missing argument (the ESM entry) print usage as before", async () => {
    const help = await runCli(SYNC_BIN, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: intermezzo-sync \[options\] <src> <dest>/);
    const missing = await runCli(SYNC_BIN, ["only-one"]);
    assert.equal(missing.code, 2, "USAGE");
    assert.match(missing.stderr, /missing required argument 'dest'/);
  });

  it("bin/intermezzo-sync runs the bundle: a sync leaves the cache beside it, and the next run uses it", async () => {
    const root = tempDir("imz-cc-");
    try {
      const [src, dest] = [path.join(root, "src"), path.join(root, "dest")];
      fs.mkdirSync(src);
      fs.mkdirSync(dest);
      fs.writeFileSync(path.join(src, "f"), "hello");
      const first = await runCli(SYNC_BIN, [src, dest]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(fs.readFileSync(path.join(dest, "f"), "utf8"), "hello");
      const cache = new URL("../../dist/bin/intermezzo-sync.cjs" + CACHE_SUFFIX, import.meta.url);
      assert.ok(fs.existsSync(cache), "the run left the cache");
      fs.writeFileSync(path.join(src, "g"), "again");
      const second = await runCli(SYNC_BIN, [src, dest]);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(fs.readFileSync(path.join(dest, "g"), "utf8"), "again");
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("bin/intermezzo serve --stdio (the holder of a stdio sync) runs its bundle and leaves its cache; its --help is the ESM entry's", async () => {
    const root = tempDir("imz-cc-");
    const bundle = new URL("../../dist/bin/intermezzo.cjs", import.meta.url);
    const cache = new URL(bundle.href + CACHE_SUFFIX);
    try {
      const [src, dest] = [path.join(root, "src"), path.join(root, "dest")];
      fs.mkdirSync(src);
      fs.mkdirSync(dest);
      fs.writeFileSync(path.join(src, "f"), "hello");
      const first = await runCli(SYNC_BIN, ["--transport", "stdio", src, dest]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal(fs.readFileSync(path.join(dest, "f"), "utf8"), "hello");
      // made for this bundle (by this run, or an earlier one: other tests run the holder too)
      const st = fs.statSync(bundle, { bigint: true });
      assert.ok(fs.readFileSync(cache).subarray(0, 40).toString("latin1").startsWith(`${st.size}:${st.mtimeNs}\n`), "the holder's run left the cache");
      fs.writeFileSync(path.join(src, "g"), "again");
      const second = await runCli(SYNC_BIN, ["--transport", "stdio", src, dest]);
      assert.equal(second.code, 0, second.stderr);
      assert.equal(fs.readFileSync(path.join(dest, "g"), "utf8"), "again");
      const help = await runCli(IMZ_BIN, ["serve", "--stdio", "--help"]);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /^Usage: intermezzo serve/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
