/**
 * The mount as a POSIX filesystem, through real FUSE: paths as long as the kernel takes inside the
 * mount work below it; modes are what the caller's umask makes (the mount process applies none of
 * its own); with `--allow-other` another user's objects are that user's, with the kernel's rules
 * for set-id bits — and the journal stays complete.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { FileSet } from "../../src/journal/fileset.js";
import { scan } from "../../src/filter/scanner.js";
import { tempDir } from "../helpers/tree.js";
import { sh, stopMount } from "./fuse-helpers.js";

const CLI_MAIN = fileURLToPath(new URL("./cli-main.ts", import.meta.url));
const NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups";

async function mount(dir: string, mnt: string, ...flags: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", CLI_MAIN, "mount", "--foreground", ...flags, dir, mnt], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().startsWith("mounted") && resolve());
    child.on("exit", (code) => reject(new Error(`intermezzo mount exited ${String(code)}: ${err}`)));
  });
  return child;
}

const mode = (p: string): number => fs.lstatSync(p).mode & 0o7777;

describe("the mount as a POSIX filesystem (--allow-other)", { skip: process.getuid?.() !== 0 && "needs root (switches users)" }, () => {
  let dir: string;
  let mnt: string;
  let child: ChildProcess | undefined;

  before(async () => {
    // a long holding-location path: paths below it exceed PATH_MAX sooner
    dir = path.join(tempDir("imz-posix-fsl-"), "a-holding-location-with-a-long-name-".repeat(3));
    mnt = tempDir("imz-posix-mnt-");
    fs.mkdirSync(dir, { mode: 0o1777 });
    fs.chmodSync(dir, 0o1777);
    FileSet.init(dir).close();
    child = await mount(dir, mnt, "--allow-other");
  });

  after(async () => {
    if (child) await stopMount(child, mnt);
    for (const d of [path.dirname(dir), mnt]) fs.rmSync(d, { recursive: true, force: true });
  });

  it("a path as long as the kernel takes inside the mount works below it", async () => {
    // 4,000 bytes inside the mount: below it the holding location's path comes on top
    const deep = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(2, "0")}${"d".repeat(97)}`).join("/");
    await sh(`mkdir -p ${deep} && echo deep > ${deep}/f && mv ${deep}/f ${deep}/g && ln -s g ${deep}/l && chmod 600 ${deep}/g`, mnt);
    assert.ok(Buffer.byteLength(path.join(dir, deep, "g")) >= 4096, "the path below the mount exceeds PATH_MAX");
    assert.equal(await sh(`cat ${deep}/l`, mnt), "deep\n");
    assert.equal(mode(path.join(mnt, deep, "g")), 0o600);
    await sh(`rm -r ${deep.split("/")[0]}`, mnt);
  });

  it("modes are what the caller's umask makes, once", async () => {
    await sh("umask 0; touch u0 && mkdir u0d && umask 027 && touch u27 && mkdir u27d", mnt);
    assert.deepEqual(["u0", "u0d", "u27", "u27d"].map((n) => mode(path.join(dir, n))), [0o666, 0o777, 0o640, 0o750]);
  });

  it("another user's new objects are that user's; a setgid directory's group is inherited", async () => {
    fs.mkdirSync(path.join(mnt, "shared"));
    fs.chmodSync(path.join(mnt, "shared"), 0o3777);
    fs.chownSync(path.join(mnt, "shared"), 0, 4242);
    await sh(`${NOBODY} sh -c 'umask 022; touch mine && mkdir mined && ln -s mine mine.sym && touch shared/f && mkdir shared/d'`, mnt);
    const owner = (n: string): string => {
      const st = fs.lstatSync(path.join(dir, n));
      return `${st.uid}:${st.gid}`;
    };
    assert.deepEqual(["mine", "mined", "mine.sym", "shared/f", "shared/d"].map(owner), ["65534:65534", "65534:65534", "65534:65534", "65534:4242", "65534:4242"]);
    assert.equal(mode(path.join(dir, "shared/d")) & 0o2000, 0o2000, "a directory made in a setgid directory is setgid");
    // the user's own chmod works on what they made
    await sh(`${NOBODY} chmod 600 mine`, mnt);
    assert.equal(mode(path.join(dir, "mine")), 0o600);
  });

  it("set-id bits are cleared as the kernel clears them: on a write, on a chown", async () => {
    await sh(`${NOBODY} sh -c 'echo x > suid && chmod 6755 suid && echo more >> suid'`, mnt);
    assert.equal(mode(path.join(dir, "suid")), 0o755, "a write clears the set-id bits");
    await sh(`${NOBODY} chmod 6755 suid && chown 65534:4242 suid`, mnt);
    assert.equal(mode(path.join(dir, "suid")) & 0o6000, 0, "a chown clears them");
    // root's set-id file that anyone may write: another user's write clears the bits (the kernel
    // asks for it with a chmod that user could not make)
    await sh("echo x > rootsuid && chmod 6777 rootsuid", mnt);
    await sh(`${NOBODY} sh -c 'echo y >> rootsuid'`, mnt);
    assert.equal(mode(path.join(dir, "rootsuid")), 0o777);
  });

  it("journals all of it: a scan afterwards finds nothing", async () => {
    await stopMount(child!, mnt);
    child = undefined;
    const set = FileSet.open(dir);
    try {
      const r = await scan(set);
      assert.equal(r.records, 0, JSON.stringify(set.log.since(set.log.head() - r.records, 100)));
    } finally {
      set.close();
    }
  });
});
