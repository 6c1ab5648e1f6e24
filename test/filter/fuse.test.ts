/**
 * Presto over real FUSE mounts, with real programs: after each program the journal, replayed into
 * a holder, gives the tree the mount shows, and a scan finds nothing the filter did not journal.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { makeVariedTree, tempDir } from "../helpers/tree.js";
import { assertJournalComplete, sh, withFilteredReplica, type FilteredReplica } from "./fuse-helpers.js";

describe("Presto through FUSE, with real programs", () => {
  let tarball: string;
  let work: string;
  let r: FilteredReplica;
  let finish: () => void;
  let running: Promise<void>;

  before(async () => {
    work = tempDir("imz-fuse-work-");
    makeVariedTree(path.join(work, "src"));
    tarball = path.join(work, "tree.tar");
    await sh(`tar -cf ${tarball} -C src .`, work);
    let ready!: () => void;
    const mounted = new Promise<void>((resolve) => (ready = resolve));
    running = withFilteredReplica(async (fr) => {
      r = fr;
      ready();
      await new Promise<void>((resolve) => (finish = resolve));
    });
    await Promise.race([mounted, running]);
  });

  after(async () => {
    finish?.();
    await running;
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("tar -x of a generated tree", async () => {
    await sh(`mkdir t && tar -xf ${tarball} -C t`, r.mnt);
    assert.equal(fs.readlinkSync(path.join(r.mnt, "t/a/link-to-top")), "../top.txt");
    assert.equal(fs.statSync(path.join(r.mnt, "t/top.txt")).mtime.toISOString(), "2001-02-03T04:05:06.000Z");
    await assertJournalComplete(r);
  });

  it("cp -a within the mount and into it", async () => {
    await sh(`cp -a t copy && cp -a ${path.join(work, "src")} from-outside`, r.mnt);
    await assertJournalComplete(r);
  });

  it("mv of files and directories, over an existing file too", async () => {
    await sh(`mv copy/top.txt copy/a/moved.txt && mv copy copy2 && mv copy2/a/one copy2/a/b/two.bin && mv from-outside t/nested`, r.mnt);
    await assertJournalComplete(r);
  });

  it("sed -i and an editor-style save (write a temp file, rename it over)", async () => {
    await sh(`printf 'alpha\\nbeta\\n' > notes.txt && sed -i 's/beta/gamma/' notes.txt`, r.mnt);
    await sh(`cp notes.txt .notes.txt.swp && printf 'delta\\n' >> .notes.txt.swp && mv .notes.txt.swp notes.txt`, r.mnt);
    assert.equal(fs.readFileSync(path.join(r.mnt, "notes.txt"), "utf8"), "alpha\ngamma\ndelta\n");
    await assertJournalComplete(r);
  });

  it("truncate, chmod, ln and ln -s", async () => {
    await sh(`truncate -s 100 notes.txt && truncate -s 0 t/empty && truncate -s 5000 t/grown`, r.mnt);
    await sh(`chmod 600 notes.txt && chmod -R g+w t/a && ln notes.txt notes.hard && ln -s notes.txt notes.sym`, r.mnt);
    assert.equal(fs.statSync(path.join(r.mnt, "notes.hard")).nlink, 2);
    await assertJournalComplete(r);
  });

  it("git init, add and commit", async () => {
    await sh(`mkdir repo && cp -r t/a repo/ && cd repo && git init -q && git add -A && git -c user.name=t -c user.email=t@example.org commit -qm first`, r.mnt);
    assert.match(await sh(`git log --oneline`, path.join(r.mnt, "repo")), /first/);
    await assertJournalComplete(r);
  });

  it("mkfifo, a socket and (as root) device nodes: journaled and replayed", async () => {
    const devices = process.getuid?.() === 0 ? " && mknod spec/null c 1 3 && mknod spec/blk b 7 200" : "";
    await sh(`mkdir spec && mkfifo -m 0640 spec/fifo && python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('spec/sock')"${devices}`, r.mnt);
    assert.ok(fs.lstatSync(path.join(r.mnt, "spec/fifo")).isFIFO());
    assert.ok(fs.lstatSync(path.join(r.mnt, "spec/sock")).isSocket());
    await assertJournalComplete(r);
    assert.ok(fs.lstatSync(path.join(r.holder, "spec/fifo")).isFIFO(), "the holder has the FIFO");
    if (devices) assert.equal(fs.lstatSync(path.join(r.holder, "spec/null")).rdev, fs.lstatSync("/dev/null").rdev);
    await sh("rm -r spec", r.mnt);
    await assertJournalComplete(r);
  });

  it("rm -rf", async () => {
    await sh(`rm -rf copy2 repo t/nested`, r.mnt);
    assert.ok(!fs.existsSync(path.join(r.mnt, "copy2")));
    await assertJournalComplete(r);
  });

  it("hides .intermezzo/ and maps errors to errno", async () => {
    assert.ok(!fs.readdirSync(r.mnt).includes(".intermezzo"));
    assert.throws(() => fs.statSync(path.join(r.mnt, ".intermezzo")), { code: "ENOENT" });
    await assert.rejects(fs.promises.mkdir(path.join(r.mnt, ".intermezzo")), { code: "EPERM" });
    await assert.rejects(fs.promises.rmdir(path.join(r.mnt, "t")), { code: "ENOTEMPTY" });
    await assert.rejects(fs.promises.readFile(path.join(r.mnt, "missing")), { code: "ENOENT" });
  });
});
