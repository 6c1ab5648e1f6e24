/** `intermezzo delta signature|delta|patch` against the real `rdiff`, files and stdin/stdout. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { applyEdits, rdiff, seededBytes, tempDir } from "./helpers.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const MAIN = fileURLToPath(new URL("./cli-main.ts", import.meta.url));

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs `intermezzo ARGS` with optional stdin bytes. */
function intermezzo(args: string[], stdin?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(stdin ?? Buffer.alloc(0));
  });
}

test("CLI: signatures equal rdiff's (file and pipe), deltas and patches interoperate", async () => {
  const t = await tempDir();
  try {
    const base = seededBytes(3, 700_000);
    const edited = applyEdits(base, [{ kind: "insert", at: 0.5, length: 1024, seed: 4 }]);
    await writeFile(t.path("old"), base);
    await writeFile(t.path("new"), edited);

    await rdiff("signature", t.path("old"), t.path("rdiff.sig"));
    const run = await intermezzo(["delta", "signature", t.path("old"), t.path("our.sig")]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok((await readFile(t.path("our.sig"))).equals(await readFile(t.path("rdiff.sig"))));

    // From a pipe the size is unknown: block 2048, as rdiff does.
    const piped = await intermezzo(["delta", "signature", "-", "-", "-H", "md4", "-R", "rollsum", "-S", "-1"], base);
    assert.equal(piped.code, 0, piped.stderr);
    await writeFile(t.path("piped.sig"), piped.stdout);
    await rdiff("signature", "-H", "md4", "-R", "rollsum", "-S", "-1", t.path("old"), t.path("rdiff-file.sig"));
    assert.equal(piped.stdout.readUInt32BE(4), 2048);
    assert.notEqual((await readFile(t.path("rdiff-file.sig"))).readUInt32BE(4), 2048); // a file gets a size-based block

    const delta = await intermezzo(["delta", "delta", t.path("rdiff.sig"), t.path("new"), t.path("our.delta")]);
    assert.equal(delta.code, 0, delta.stderr);
    await rdiff("patch", t.path("old"), t.path("our.delta"), t.path("rdiff.out"));
    assert.ok((await readFile(t.path("rdiff.out"))).equals(edited));

    await rdiff("delta", t.path("piped.sig"), t.path("new"), t.path("rdiff.delta"));
    const patched = await intermezzo(["delta", "patch", t.path("old"), "-", "-"], await readFile(t.path("rdiff.delta")));
    assert.equal(patched.code, 0, patched.stderr);
    assert.ok(patched.stdout.equals(edited));
  } finally {
    await t.cleanup();
  }
});

test("CLI: typed errors and exit codes", async () => {
  const t = await tempDir();
  try {
    await writeFile(t.path("old"), seededBytes(1, 10_000));
    const bad = await intermezzo(["delta", "patch", t.path("old"), "-", "-"], Buffer.from("not a delta"));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /error \[RS_BAD_MAGIC\]/);
    assert.match(bad.stderr, /hint:/);
    // librsync's own trace (normally fprintf'd to stderr) is routed away: only our two lines remain.
    assert.doesNotMatch(bad.stderr, /ERROR: \(/);
    assert.equal(bad.stderr.trim().split("\n").length, 2, bad.stderr);

    const sig = await intermezzo(["delta", "signature", t.path("old"), "-"]);
    const truncated = await intermezzo(["delta", "delta", "-", t.path("old"), "-"], sig.stdout.subarray(0, 30));
    assert.equal(truncated.code, 1);
    assert.match(truncated.stderr, /error \[RS_INPUT_ENDED\]/);

    await writeFile(t.path("exists"), "x");
    const exists = await intermezzo(["delta", "signature", t.path("old"), t.path("exists")]);
    assert.equal(exists.code, 2);
    assert.match(exists.stderr, /\[USAGE\]/);
    assert.equal((await intermezzo(["delta", "signature", "-f", t.path("old"), t.path("exists")])).code, 0);

    assert.equal((await intermezzo(["delta", "signature", "-H", "sha1", t.path("old"), "-"])).code, 2);
    assert.equal((await intermezzo(["delta", "signature", "-b", "x", t.path("old"), "-"])).code, 2);
    assert.equal((await intermezzo(["delta", "patch", "-", "-", "-"])).code, 2);
  } finally {
    await t.cleanup();
  }
});
