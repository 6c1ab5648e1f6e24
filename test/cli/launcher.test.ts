/**
 * The launchers in `bin/` as a user's shell, cron or sshd starts them (executed, not `node bin/…`):
 * Node starts without the user's `NODE_EXTRA_CA_CERTS` (a CA bundle Node would parse before any of
 * our code; intermezzo uses no TLS), and the programs intermezzo starts — a notify hook here — see
 * it unchanged (`src/node-env.ts`). A sync runs its code-cached CommonJS bundle without starting Node's
 * ES module loader (`src/cli/launch-cached.ts`); help loads the ESM bundle.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { nodeChildEnv, restoreUserEnv, SAVED_CA_CERTS } from "../../src/node-env.js";
import { IMZ_BIN, runCli, SYNC_BIN } from "../helpers/cli.js";
import { tempDir } from "../helpers/tree.js";

const CA = "/nonexistent/imz-test-ca.pem";
/** What Node prints when it reads `NODE_EXTRA_CA_CERTS` and cannot load it. */
const READ_CA = /Ignoring extra certs from/;
const env = { ...process.env, NODE_EXTRA_CA_CERTS: CA };

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Runs `bin` as an executable (its `#!` line), as a shell does. */
async function exec(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(bin, args, { env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("bin/ launchers and NODE_EXTRA_CA_CERTS", () => {
  for (const bin of [SYNC_BIN, IMZ_BIN]) {
    it(`${path.basename(bin)} executed: Node does not read NODE_EXTRA_CA_CERTS (run through node, it does)`, async () => {
      const direct = await exec(bin, ["--help"]);
      assert.equal(direct.code, 0, direct.stderr);
      assert.match(direct.stdout, /^Usage: /);
      assert.doesNotMatch(direct.stderr, READ_CA);
      const viaNode = await runCli(bin, ["--help"], { env });
      assert.equal(viaNode.code, 0);
      assert.match(viaNode.stderr, READ_CA, "the check above can see Node reading the file");
    });
  }

  it("a sync never starts Node's ES module loader; --help does", async () => {
    const a = tempDir("imz-launch-esm-a-");
    const b = tempDir("imz-launch-esm-b-");
    dirs.push(a, b);
    fs.writeFileSync(path.join(a, "page.html"), "text");
    const debug = async (args: string[]): Promise<{ code: number; stderr: string }> => {
      try {
        const { stderr } = await promisify(execFile)(SYNC_BIN, args, { env: { ...process.env, NODE_DEBUG: "esm" } });
        return { code: 0, stderr };
      } catch (err) {
        const e = err as { code: number; stderr: string };
        return { code: e.code, stderr: e.stderr };
      }
    };
    const sync = await debug([a, b]);
    assert.equal(sync.code, 0, sync.stderr);
    assert.doesNotMatch(sync.stderr, /^ESM \d+:/m);
    assert.equal(fs.readFileSync(path.join(b, "page.html"), "utf8"), "text");
    const help = await debug(["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stderr, /^ESM \d+:/m, "the check above can see the ES module loader start");
  });

  it("a sync's notify hook sees the user's NODE_EXTRA_CA_CERTS, and not the launcher's copy", async () => {
    const a = tempDir("imz-launch-a-");
    const b = tempDir("imz-launch-b-");
    const out = `${a}.hook-env`;
    dirs.push(a, b, out);
    fs.writeFileSync(path.join(a, "page.html"), "base");
    assert.equal((await exec(SYNC_BIN, [a, b])).code, 0);
    fs.writeFileSync(path.join(a, "page.html"), "replica's edit");
    fs.writeFileSync(path.join(b, "page.html"), "holder's edit");
    const r = await exec(SYNC_BIN, ["--notify-command", `env > '${out}'`, a, b]);
    assert.equal(r.code, 3, r.stderr); // a conflict was settled and notified
    assert.doesNotMatch(r.stderr, READ_CA);
    const seen = fs.readFileSync(out, "utf8").split("\n");
    assert.ok(seen.includes(`NODE_EXTRA_CA_CERTS=${CA}`), "the hook has the user's variable");
    assert.ok(!seen.some((l) => l.startsWith(`${SAVED_CA_CERTS}=`)), "and not the launcher's copy");
  });

  it("intermezzo's own Node children start without it and put it back the same way", () => {
    const child = nodeChildEnv({ PATH: "/bin", NODE_EXTRA_CA_CERTS: CA });
    assert.deepEqual(child, { PATH: "/bin", [SAVED_CA_CERTS]: CA });
    restoreUserEnv(child);
    assert.deepEqual(child, { PATH: "/bin", NODE_EXTRA_CA_CERTS: CA });
    assert.deepEqual(nodeChildEnv({ PATH: "/bin" }), { PATH: "/bin" }, "nothing to set aside");
  });
});
