/**
 * Names as bytes: file, directory and symlink names and symlink targets that are not valid UTF-8
 * (Latin-1 `café`, stray bytes) are replicated byte for byte — through a local sync, `--transport stdio` and SSH — edited and
 * synced again, and a second run has nothing to do. Before, they were skipped silently.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { syncJson } from "../helpers/cli.js";
import { REMOTE_SERVE, clientHome, type ClientHome } from "../helpers/remote.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { tempDir } from "../helpers/tree.js";

const dirs: string[] = [];
let sshd: TestSshd;
let home: ClientHome;
before(async () => {
  sshd = await startSshd();
  const h = tempDir("imz-names-home-");
  dirs.push(h);
  home = clientHome(h, sshd);
});
after(async () => {
  await sshd?.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const LATIN1 = Buffer.from("caf\xe9.txt", "latin1");
const STRAY = Buffer.from([0xff, 0xfe, 0x41]);
const DIR = Buffer.from([0x64, 0x80, 0x2d, 0x64, 0x69, 0x72]);
const UTF8 = Buffer.from("ünïcödé.txt");

/** `root` joined with byte components. */
function p(root: string, ...parts: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from(root), ...parts.flatMap((x) => [Buffer.from("/"), x])]);
}

/** Every path under `root` as hex of its bytes, with its type and content (`.intermezzo` left out). */
function byteTree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: Buffer, rel: Buffer[]): void => {
    for (const name of fs.readdirSync(dir, { encoding: "buffer" })) {
      if (rel.length === 0 && name.toString() === ".intermezzo") continue;
      const abs = Buffer.concat([dir, Buffer.from("/"), name]);
      const here = [...rel, name];
      const st = fs.lstatSync(abs);
      const key = here.map((b) => b.toString("hex")).join("/");
      if (st.isDirectory()) {
        out.push(`${key} dir`);
        walk(abs, here);
      } else if (st.isSymbolicLink()) out.push(`${key} -> ${fs.readlinkSync(abs, { encoding: "buffer" }).toString("hex")}`);
      else out.push(`${key} ${fs.readFileSync(abs).toString("hex")}`);
    }
  };
  walk(Buffer.from(root), []);
  return out.sort();
}

function make(root: string): void {
  fs.writeFileSync(p(root, LATIN1), "latin-1 name\n");
  fs.writeFileSync(p(root, STRAY), "stray bytes\n");
  fs.writeFileSync(p(root, UTF8), "valid utf-8\n");
  fs.mkdirSync(p(root, DIR));
  fs.writeFileSync(p(root, DIR, STRAY), "inside a raw directory\n");
  fs.writeFileSync(p(root, DIR, Buffer.from("plain")), "plain inside\n");
  fs.symlinkSync(Buffer.concat([DIR, Buffer.from("/"), STRAY]), p(root, Buffer.from([0x6c, 0xe9])));
}

describe("names that are not UTF-8 replicate byte for byte", () => {
  const routes: Array<[string, (dest: string) => string[], () => NodeJS.ProcessEnv]> = [
    ["in-process", (dest) => ["--transport", "in-process", dest], () => process.env],
    ["stdio", (dest) => ["--transport", "stdio", dest], () => process.env],
    ["ssh", (dest) => ["-i", home.key, "--remote-command", REMOTE_SERVE, `ssh://root@127.0.0.1:${sshd.port}${dest}`], () => home.env],
  ];
  for (const [route, destArgs, env] of routes) {
    it(`through ${route}: created, edited, renamed, and a second run does nothing`, async () => {
      const src = tempDir("imz-names-src-");
      const dest = tempDir("imz-names-dest-");
      dirs.push(src, dest);
      make(src);
      const sync = (): ReturnType<typeof syncJson> => syncJson([src, ...destArgs(dest)], { env: env() });
      const first = await sync();
      assert.equal(first.code, 0, first.stderr + first.stdout);
      assert.deepEqual(first.json!.problems, []);
      assert.deepEqual(byteTree(dest), byteTree(src));

      fs.writeFileSync(p(src, LATIN1), "edited on src\n");
      fs.renameSync(p(src, DIR, STRAY), p(src, DIR, Buffer.from([0xe9, 0x74, 0xe9])));
      fs.writeFileSync(p(dest, STRAY), "edited on dest\n");
      const second = await sync();
      assert.equal(second.code, 0, second.stderr + second.stdout);
      assert.deepEqual(byteTree(dest), byteTree(src));
      assert.equal(fs.readFileSync(p(src, STRAY), "utf8"), "edited on dest\n");

      const third = await sync();
      assert.equal(third.code, 0, third.stderr);
      assert.equal(third.json!.recordsShipped + third.json!.filesSent + third.json!.filesReceived, 0);
    });
  }
});
