/**
 * One holder, many replicas: roles follow authority (a mirror's SRC holds), the remote end plays
 * either role (a push mirror's replica work runs on the remote host, through a real sshd and
 * Lento's listener), the empty-source refusal, many replicas syncing one holder at once, and the
 * holder's registry of replicas. Every run goes through the built CLI, as cron runs it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { REPLICA_RETENTION_MS } from "../../src/journal/replicas.js";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { clientHome, REMOTE_SERVE, startListenerChild, type ClientHome, type ListenerChild } from "../helpers/remote.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-topo-");
const dir = scratch.dir;
const write = put;
function site(root: string): void {
  write(root, "index.html", "<h1>home</h1>");
  write(root, "news/today.html", "today");
  write(root, "img/logo.png", "logo".repeat(5000));
}
/** Every byte and mode of a tree, `.intermezzo/` aside: to show a refusal touched nothing. */
function snapshot(root: string): string {
  return JSON.stringify(manifest(root));
}
function roleOf(root: string): string {
  const set = FileSet.open(root);
  try {
    return set.role;
  } finally {
    set.close();
  }
}
interface Kept {
  path: string;
  kind: string;
  stored?: string;
}
function keptLog(root: string): Kept[] {
  const file = path.join(root, ".intermezzo/conflicts.log");
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Kept) : [];
}

describe("one holder, many replicas", () => {
  let sshd: TestSshd;
  let home: ClientHome;
  before(async () => {
    sshd = await startSshd();
    home = clientHome(dir(), sshd);
  });
  after(async () => {
    await sshd?.stop();
    scratch.cleanup();
  });
  const ssh = (root: string): string => `ssh://root@127.0.0.1:${sshd.port}${root}`;
  const remoteArgs = (): string[] => ["-i", home.key, "--remote-command", REMOTE_SERVE];

  it("eight first mirrors of a new master at once: one file set made, eight exact copies", async () => {
    const master = dir();
    for (let i = 0; i < 50; i++) write(master, `f${i}`, String(i));
    const webs = Array.from({ length: 8 }, () => dir());
    const runs = await Promise.all(webs.map((w) => syncJson(["--mirror", master, w])));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    for (const w of webs) assert.deepEqual(manifest(w), manifest(master));
    assert.equal(roleOf(master), "holder");
  });

  it("a master mirrors to three DESTs (two local, one over SSH): it holds, each DEST is its replica, and a stray edit is reverted, kept, logged and reported", async () => {
    const master = dir();
    const [web1, web2, web3] = [dir(), dir(), dir()];
    site(master);
    const hook = path.join(dir(), "hook.json");
    const mirror = (dest: string, extra: string[] = []): ReturnType<typeof syncJson> =>
      syncJson(["--mirror", ...extra, master, dest], { env: home.env });
    for (const dest of [web1, web2]) assert.equal((await mirror(dest)).code, 0);
    assert.equal((await mirror(ssh(web3), remoteArgs())).code, 0);
    assert.equal(roleOf(master), "holder");
    for (const d of [web1, web2, web3]) {
      assert.equal(roleOf(d), "replica");
      assert.deepEqual(manifest(d), manifest(master));
    }
    // edits on the master reach all three; a defacement of web2 and of web3 is undone
    write(master, "news/today.html", "tomorrow");
    fs.rmSync(path.join(master, "img/logo.png"));
    write(web2, "index.html", "defaced");
    write(web2, "junk/shell.php", "evil");
    write(web3, "index.html", "defaced over ssh");
    const notify = ["--notify-command", `cat > '${hook}'`];
    assert.equal((await mirror(web1)).code, 0);
    const r2 = await mirror(web2, notify);
    assert.equal(r2.code, 3, r2.stderr);
    assert.deepEqual(r2.json!.conflicts.map((c) => [c.path, c.kind, c.winner]).sort(), [
      ["index.html", "mirror/revert", "server"],
      ["junk", "mirror/revert", "server"],
      ["junk/shell.php", "mirror/revert", "server"],
    ]);
    const told = JSON.parse(fs.readFileSync(hook, "utf8")) as { conflicts: Kept[] };
    assert.equal(told.conflicts.length, 3);
    const r3 = await mirror(ssh(web3), remoteArgs());
    assert.equal(r3.code, 3, r3.stderr);
    assert.deepEqual(r3.json!.conflicts.map((c) => c.path), ["index.html"]);
    for (const d of [web1, web2, web3]) assert.deepEqual(manifest(d), manifest(master));
    // every reverted version is kept on the mirror where it lost
    const kept2 = new Map(keptLog(web2).filter((e) => e.stored).map((e) => [e.path, fs.readFileSync(path.join(web2, e.stored!), "utf8")]));
    assert.deepEqual(Object.fromEntries(kept2), { "index.html": "defaced", "junk/shell.php": "evil" });
    const kept3 = keptLog(web3).filter((e) => e.stored);
    assert.equal(fs.readFileSync(path.join(web3, kept3[0]!.stored!), "utf8"), "defaced over ssh");
    // the master's own tree was never touched by the mirrors' edits, and a rerun is quiet
    assert.equal(fs.readFileSync(path.join(master, "index.html"), "utf8"), "<h1>home</h1>");
    for (const d of [web1, web2]) assert.equal((await mirror(d)).json!.recordsApplied, 0);
    // the holder registered each replica
    const status = await runCli(IMZ_BIN, ["status", "--json", master]);
    const replicas = (JSON.parse(status.stdout) as { replicas: Array<{ place: string; lastSeen: number }> }).replicas;
    assert.deepEqual(replicas.map((r) => r.place.split(":").at(-1)).sort(), [web1, web2, web3].sort());
  });

  it("the pull form, run on the mirror's host, keeps the master holding", async () => {
    const master = dir();
    const web = dir();
    site(master);
    const r = await syncJson(["--mirror", ...remoteArgs(), ssh(master), web], { env: home.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json!.holder, "src");
    assert.equal(roleOf(master), "holder");
    assert.equal(roleOf(web), "replica");
    write(web, "index.html", "local edit");
    write(master, "news/new.html", "fresh");
    const again = await syncJson(["--mirror", ...remoteArgs(), ssh(master), web], { env: home.env });
    assert.equal(again.code, 3, again.stderr);
    assert.deepEqual(manifest(web), manifest(master));
  });

  it("a push mirror through Lento's listener: the listener's host runs the replica's work", async () => {
    const master = dir();
    const served = path.join(dir(), "www");
    fs.mkdirSync(served);
    site(master);
    const keys = dir();
    const listener: ListenerChild = await startListenerChild([served], keys, `${sshd.userKeyPath}.pub`);
    try {
      fs.appendFileSync(home.knownHosts, `${listener.knownHostsLine}\n`);
      const url = `imz://alice@127.0.0.1:${listener.port}/${listener.names[0]}`;
      const r = await syncJson(["--mirror", "-i", home.key, master, url], { env: home.env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(manifest(served), manifest(master));
      assert.equal(roleOf(served), "replica");
    } finally {
      await listener.stop();
    }
  });

  it("refuses to mirror or sync from an empty SRC (first run, later run, unmounted master) and leaves DEST as it was", async () => {
    // a first run: an empty SRC and no file set
    const empty = dir();
    const dest = dir();
    site(dest);
    const before1 = snapshot(dest);
    const first = await syncJson(["--mirror", empty, dest]);
    assert.equal(first.code, 5, first.stderr);
    assert.match(first.stderr, /EMPTY_SOURCE[\s\S]*--force/);
    assert.equal(snapshot(dest), before1);
    assert.equal(FileSet.exists(dest), false, "nothing was made a file set");
    // a later run: the master's tree emptied (its .intermezzo/ intact), locally and pushed over SSH
    const master = dir();
    const web = dir();
    const far = dir();
    site(master);
    assert.equal((await syncJson(["--mirror", master, web])).code, 0);
    assert.equal((await syncJson(["--mirror", ...remoteArgs(), master, ssh(far)], { env: home.env })).code, 0);
    for (const n of fs.readdirSync(master)) if (n !== ".intermezzo") fs.rmSync(path.join(master, n), { recursive: true });
    const before2 = snapshot(web);
    const later = await syncJson(["--mirror", "--max-delete", "100", master, web]);
    assert.equal(later.code, 5, later.stderr);
    assert.match(later.stderr, /EMPTY_SOURCE/);
    assert.equal(snapshot(web), before2);
    const farBefore = snapshot(far);
    const pushed = await syncJson(["--mirror", "--max-delete", "100", ...remoteArgs(), master, ssh(far)], { env: home.env });
    assert.equal(pushed.code, 5, pushed.stderr);
    assert.equal(snapshot(far), farBefore);
    // an unmounted master: an empty directory where the tree (and its .intermezzo/) used to be
    const unmounted = dir();
    const web2 = dir();
    site(unmounted);
    assert.equal((await syncJson(["--mirror", unmounted, web2])).code, 0);
    fs.rmSync(unmounted, { recursive: true });
    fs.mkdirSync(unmounted);
    const before3 = snapshot(web2);
    const gone = await syncJson(["--mirror", unmounted, web2]);
    assert.equal(gone.code, 5, gone.stderr);
    assert.equal(snapshot(web2), before3);
    // a two-way sync whose SRC replica was emptied after syncing is refused too
    const a = dir();
    const b = dir();
    site(a);
    assert.equal((await syncJson([a, b])).code, 0);
    for (const n of fs.readdirSync(a)) if (n !== ".intermezzo") fs.rmSync(path.join(a, n), { recursive: true });
    const beforeB = snapshot(b);
    const twoWay = await syncJson(["--max-delete", "100", a, b]);
    assert.equal(twoWay.code, 5, twoWay.stderr);
    assert.equal(snapshot(b), beforeB);
    // --force overrides: SRC really is meant to be empty
    const forced = await syncJson(["--mirror", "--force", unmounted, web2]);
    assert.equal(forced.code, 3, forced.stderr); // every file of DEST reverted (and kept)
    assert.deepEqual(fs.readdirSync(web2).filter((n) => n !== ".intermezzo"), []);
  });

  it("a replica root that lost its .intermezzo/ after syncing is refused (a new replica at a registered replica's place) until --force", async () => {
    const holder = dir();
    const replica = dir();
    site(holder);
    assert.equal((await syncJson([replica, holder])).code, 0);
    fs.rmSync(path.join(replica, ".intermezzo"), { recursive: true });
    fs.rmSync(path.join(replica, "index.html"));
    const beforeHolder = snapshot(holder);
    const lost = await syncJson([replica, holder]);
    assert.equal(lost.code, 5, lost.stderr);
    assert.match(lost.stderr, /NOT_A_FILESET[\s\S]*lost its \.intermezzo/);
    assert.equal(snapshot(holder), beforeHolder);
    assert.equal(FileSet.exists(replica), false, "the refused run left nothing behind");
    const forced = await syncJson(["--force", replica, holder]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(manifest(replica), manifest(holder));
  });

  it("--holder chooses at creation; an existing file set keeps its roles and a contradicting --holder is refused", async () => {
    const a = dir();
    const b = dir();
    site(a);
    assert.equal((await syncJson(["--holder", "src", a, b])).code, 0);
    assert.equal(roleOf(a), "holder");
    assert.equal(roleOf(b), "replica");
    const wrong = await syncJson(["--holder", "dest", a, b]);
    assert.equal(wrong.code, 5);
    assert.match(wrong.stderr, /FILESET_MISMATCH[\s\S]*hint/);
    write(b, "from-replica", "b");
    const again = await syncJson([b, a]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(manifest(a), manifest(b));
  });

  it("a replica left behind the compacted server log converges by revalidation and keeps its own pending change", async () => {
    const holder = dir();
    const [a, b] = [dir(), dir()];
    site(holder);
    for (let i = 0; i < 30; i++) write(holder, `files/${i}.txt`, `file ${i}`);
    for (const r of [a, b]) assert.equal((await syncJson([r, holder])).code, 0);
    // a goes quiet for longer than the holder keeps the log for it
    const set = FileSet.open(holder);
    const aId = (() => {
      const s = FileSet.open(a);
      try {
        return s.replicaId;
      } finally {
        s.close();
      }
    })();
    set.db.prepare(`UPDATE replicas SET last_sync = ? WHERE replica = ?`).run(Date.now() - REPLICA_RETENTION_MS - 60_000, aId);
    const aSeen = set.replicas.list().find((r) => r.replica === aId)!.lastSeen;
    set.close();
    // the holder changes much; b keeps up, and the log is compacted behind it
    for (let round = 0; round < 3; round++) {
      write(holder, `files/${round}.txt`, `edited ${round}`);
      fs.rmSync(path.join(holder, `files/${10 + round}.txt`));
      fs.renameSync(path.join(holder, `files/${20 + round}.txt`), path.join(holder, `moved-${round}.txt`));
      write(holder, `new/${round}.txt`, `new ${round}`);
      assert.equal((await syncJson([b, holder])).code, 0);
    }
    const after1 = FileSet.open(holder);
    const floor = after1.log.floor();
    after1.close();
    assert.ok(floor > aSeen, `the log was compacted past a's stamp (${floor} > ${aSeen})`);
    write(a, "index.html", "a's own edit, made while away");
    const r = await syncJson([a, holder]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(manifest(a), manifest(holder));
    assert.equal(fs.readFileSync(path.join(holder, "index.html"), "utf8"), "a's own edit, made while away");
    assert.equal((await syncJson([b, holder])).code, 0);
    assert.deepEqual(manifest(b), manifest(holder));
  });

  it("ten replicas sync one holder at the same time, locally and through Lento's listener: none is LOCKED, all converge", async () => {
    const holderRoot = path.join(dir(), "www");
    fs.mkdirSync(holderRoot);
    site(holderRoot);
    for (let i = 0; i < 10; i++) write(holderRoot, `pages/${i}.html`, `page ${i}`);
    const replicas = Array.from({ length: 10 }, () => dir());
    // the first runs too, at once: the new holder is made once (before, a process could open it
    // half-made: "file set metadata lacks 'replica_id'", or race its schema's migration)
    for (const first of await Promise.all(replicas.map((r) => syncJson([r, holderRoot])))) assert.equal(first.code, 0, first.stderr);
    // each replica adds a file and edits its own page; all sync at once
    replicas.forEach((r, i) => {
      write(r, `from-${i}.html`, `replica ${i}`);
      write(r, `pages/${i}.html`, `page ${i}, edited on replica ${i}`);
    });
    const runs = await Promise.all(replicas.map((r) => syncJson([r, holderRoot])));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    // a second round brings every replica the others' files
    for (const r of await Promise.all(replicas.map((r) => syncJson([r, holderRoot])))) assert.equal(r.code, 0, r.stderr);
    for (const r of replicas) assert.deepEqual(manifest(r), manifest(holderRoot));
    assert.equal(fs.readdirSync(holderRoot).filter((n) => n.startsWith("from-")).length, 10);
    // the same through Lento's listener, with the holder served by one long-running process
    const keys = dir();
    const listener = await startListenerChild([holderRoot], keys, `${sshd.userKeyPath}.pub`);
    try {
      fs.appendFileSync(home.knownHosts, `${listener.knownHostsLine}\n`);
      const url = `imz://alice@127.0.0.1:${listener.port}/${listener.names[0]}`;
      replicas.forEach((r, i) => write(r, `listener-${i}.html`, `via listener ${i}`));
      const once = await Promise.all(replicas.map((r) => syncJson(["-i", home.key, r, url], { env: home.env })));
      for (const run of once) assert.equal(run.code, 0, run.stderr);
      for (const run of await Promise.all(replicas.map((r) => syncJson(["-i", home.key, r, url], { env: home.env })))) assert.equal(run.code, 0, run.stderr);
    } finally {
      await listener.stop();
    }
    for (const r of replicas) assert.deepEqual(manifest(r), manifest(holderRoot));
  });
});
