/**
 * Live Lento: `intermezzo-sync --watch` replicas as real long-lived processes, attached to one
 * holder — in-process, through Lento's listener and over SSH. A change in one replica reaches the
 * others and the holder by itself; a holder-side change is pushed; a stalled replica does not hold
 * the others back; a holder killed and restarted gets the offline work of its replicas back with no
 * user action. Waits poll the trees (no timed assertions); every process is ended by its pid.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import { IMZ_BIN, runCli, syncJson } from "../helpers/cli.js";
import { read, stopAll, until, watch, type Watcher } from "../helpers/live.js";
import { clientHome, REMOTE_SERVE, startListenerChild, type ClientHome } from "../helpers/remote.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";
import { startMount, stopMount } from "../filter/fuse-helpers.js";

const scratch = scratchDirs("imz-live-");
const dir = scratch.dir;
const write = put;

/** The replica id of the file set at `root`. */
function replicaId(root: string): string {
  const set = FileSet.open(root);
  try {
    return set.replicaId;
  } finally {
    set.close();
  }
}

describe("live Lento: intermezzo-sync --watch", () => {
  let sshd: TestSshd;
  let home: ClientHome;
  before(async () => {
    sshd = await startSshd();
    home = clientHome(dir(), sshd);
  });
  after(async () => {
    await stopAll();
    await sshd?.stop();
    scratch.cleanup();
  });

  it("a change in one replica reaches the others and the holder by itself; holder-side edits are pushed to every replica", async () => {
    const holder = dir();
    write(holder, "index.html", "v1");
    const replicas = [dir(), dir(), dir()];
    const ws = [];
    for (const r of replicas) ws.push(await watch([r, holder]));
    try {
      write(replicas[0]!, "news/today.html", "from replica 0");
      for (const r of [holder, replicas[1]!, replicas[2]!]) await until(() => read(r, "news/today.html") === "from replica 0", `the new page in ${r}`);
      fs.renameSync(path.join(replicas[1]!, "news"), path.join(replicas[1]!, "archive"));
      for (const r of [holder, replicas[0]!, replicas[2]!]) await until(() => read(r, "archive/today.html") === "from replica 0" && read(r, "news/today.html") === undefined, `the rename in ${r}`);
      write(holder, "index.html", "v2, edited on the holder");
      for (const r of replicas) await until(() => read(r, "index.html") === "v2, edited on the holder", `the holder's edit in ${r}`);
      for (const r of replicas) await until(() => JSON.stringify(manifest(r)) === JSON.stringify(manifest(holder)), `${r} identical`);
    } finally {
      for (const w of ws) await w.stop();
    }
    const quiet = await syncJson([replicas[0]!, holder]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.json!.recordsShipped + quiet.json!.recordsApplied, 0, "nothing was left behind");
  });

  it("through Lento's listener: a stalled replica does not hold the others back (its BreakCallback lapses, logged, and holds again once it answers); the holder killed, a replica writes offline, the holder restarted: reintegrated with no user action", async () => {
    const holder = path.join(dir(), "www");
    fs.mkdirSync(holder);
    write(holder, "index.html", "home");
    const keys = dir();
    let listener = await startListenerChild([holder], keys, `${sshd.userKeyPath}.pub`, 0, ["--callback-timeout", "300"]);
    const port = listener.port;
    fs.appendFileSync(home.knownHosts, `${listener.knownHostsLine}\n`);
    const url = `imz://alice@127.0.0.1:${port}/${listener.names[0]}`;
    const [a, b, c] = [dir(), dir(), dir()];
    const args = (r: string): string[] => ["-i", home.key, r, url];
    const [wa, wb, wc] = [await watch(args(a), home.env), await watch(args(b), home.env), await watch(args(c), home.env)];
    try {
      // c stops reading (SIGSTOP); a's change still reaches b
      process.kill(wc.child.pid!, "SIGSTOP");
      write(a, "from-a.txt", "while c is stalled");
      await until(() => read(b, "from-a.txt") === "while c is stalled", "a's file in b");
      // the multi-RPC: sent to b and c at once; b answered, c's callback lapsed after the deadline
      const cid = replicaId(c);
      await until(() => listener.log().includes(`replica ${cid} did not answer BreakCallback`), "the holder to log c's lapsed callback");
      assert.doesNotMatch(listener.log(), new RegExp(`replica ${replicaId(b)} did not answer`), "b answered in time");
      process.kill(wc.child.pid!, "SIGCONT");
      await until(() => read(c, "from-a.txt") === "while c is stalled", "a's file in c once it runs again");
      await until(() => listener.log().includes(`replica ${cid} answered BreakCallback late`), "c's late answer");
      // c holds a callback again: the next change reaches it like any other replica
      write(b, "from-b.txt", "after c came back");
      for (const r of [a, c]) await until(() => read(r, "from-b.txt") === "after c came back", `b's file in ${r}`);
      // the holder goes away; a keeps working offline
      await listener.stop();
      await until(() => / disconnected/.test(wa.log()), "a to notice");
      write(a, "offline.txt", "written while the holder was down");
      fs.rmSync(path.join(a, "index.html"));
      listener = await startListenerChild([holder], keys, `${sshd.userKeyPath}.pub`, port);
      await until(() => read(holder, "offline.txt") === "written while the holder was down", "the offline work on the restarted holder");
      await until(() => read(holder, "index.html") === undefined, "the offline delete on the holder");
      for (const r of [b, c]) await until(() => read(r, "offline.txt") !== undefined && read(r, "index.html") === undefined, `the offline work in ${r}`);
      for (const r of [a, b, c]) await until(() => JSON.stringify(manifest(r)) === JSON.stringify(manifest(holder)), `${r} identical`);
    } finally {
      for (const w of [wa, wb, wc]) await w.stop();
      await listener.stop();
    }
  });

  it("a live mirror (--mirror --watch, the pull form): the master's edits arrive, a stray edit on the mirror is reverted as it is made, kept, and the hook is run", async () => {
    const master = dir();
    const web = dir();
    write(master, "index.html", "site");
    const hook = path.join(dir(), "hook.json");
    const w = await watch(["--mirror", "--notify-command", `cat > '${hook}'`, master, web]);
    try {
      write(master, "news.html", "news");
      await until(() => read(web, "news.html") === "news", "the master's new page");
      write(web, "index.html", "defaced");
      await until(() => read(web, "index.html") === "site", "the defacement reverted");
      await until(() => fs.existsSync(hook) && fs.readFileSync(hook, "utf8").includes("mirror/revert"), "the hook");
      // every reverted version is kept (the watcher may also have caught the write half-done: truncated)
      const kept = fs.readdirSync(path.join(web, ".intermezzo/conflicts")).map((d) => fs.readFileSync(path.join(web, ".intermezzo/conflicts", d, "index.html"), "utf8"));
      assert.ok(kept.includes("defaced"), JSON.stringify(kept));
      assert.equal(read(master, "index.html"), "site", "the master is never touched by the mirror");
    } finally {
      await w.stop();
    }
  });

  it("over SSH: the remote serve --stdio stays up for the session and pushes the holder's changes", async () => {
    const holder = dir();
    write(holder, "a.txt", "one");
    const replica = dir();
    const w = await watch(["-i", home.key, "--remote-command", REMOTE_SERVE, replica, `ssh://root@127.0.0.1:${sshd.port}${holder}`], home.env);
    try {
      write(holder, "a.txt", "two, on the holder");
      await until(() => read(replica, "a.txt") === "two, on the holder", "the holder's edit over SSH");
      write(replica, "b.txt", "from the replica");
      await until(() => read(holder, "b.txt") === "from the replica", "the replica's file on the holder");
      assert.equal((w.log().match(/ connecting\n/g) ?? []).length, 1, "one connection for the whole session");
    } finally {
      await w.stop();
    }
  });

  /** Starts `intermezzo serve --socket DIR` (the tree's Lento: SSH's serve --stdio hands over to it). */
  async function startSocketDaemon(holder: string): Promise<{ log(): string; stop(): Promise<void> }> {
    const child = spawn(process.execPath, [IMZ_BIN, "serve", "--socket", holder], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr!.on("data", (b: Buffer) => (log += b.toString()));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    await until(() => log.includes("(holder sockets)") || child.exitCode !== null, "the daemon to serve");
    assert.equal(child.exitCode, null, log);
    return {
      log: () => log,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGTERM");
        await exited;
      },
    };
  }

  for (const via of ["Lento's listener", "SSH, each serve --stdio handing over to the tree's Lento (serve --socket)"]) {
    it(`permits (${via}): two mounted replicas appending to one file at once take turns (the second writer waits for the first's close and starts from its version): no conflict`, async () => {
      const holder = path.join(dir(), "logs");
      fs.mkdirSync(holder);
      write(holder, "shared.log", "base\n");
      const [a, b, mntA, mntB] = [dir(), dir(), dir(), dir()];
      let url: string;
      let server: { stop(): Promise<void> };
      let args: string[];
      if (via.startsWith("Lento")) {
        const listener = await startListenerChild([holder], dir(), `${sshd.userKeyPath}.pub`);
        fs.appendFileSync(home.knownHosts, `${listener.knownHostsLine}\n`);
        url = `imz://alice@127.0.0.1:${listener.port}/${listener.names[0]}`;
        args = ["-i", home.key];
        server = listener;
        for (const r of [a, b]) assert.equal((await syncJson([...args, r, url], { env: home.env })).code, 0);
      } else {
        url = `ssh://root@127.0.0.1:${sshd.port}${holder}`;
        args = ["-i", home.key, "--remote-command", REMOTE_SERVE];
        assert.equal((await syncJson([...args, a, url], { env: home.env })).code, 0);
        server = await startSocketDaemon(holder);
        const second = await runCli(IMZ_BIN, ["serve", "--socket", holder]);
        assert.equal(second.code, 7, second.stderr);
        assert.match(second.stderr, /\[LOCKED\]: every tree named already has its Lento running/);
        assert.equal((await syncJson([...args, b, url], { env: home.env })).code, 0);
      }
      const mounts: Array<[ChildProcess, string]> = [];
      const ws: Watcher[] = [];
      try {
        mounts.push([await startMount(a, mntA), mntA], [await startMount(b, mntB), mntB]);
        for (const r of [a, b]) ws.push(await watch([...args, r, url], home.env));
        // a opens the file for appending and keeps it open while b appends
        const open = path.join(dir(), "a-open");
        const writerA = spawn("sh", ["-c", `exec 3>>shared.log; echo A1 >&3; touch '${open}'; sleep 1.5; echo A2 >&3; exec 3>&-`], { cwd: mntA, stdio: "ignore" });
        const aDone = new Promise<number | null>((r) => writerA.once("exit", r));
        await until(() => fs.existsSync(open), "a's writer to hold the file open");
        const bDone = await new Promise<number | null>((r) => spawn("sh", ["-c", "echo B >> shared.log"], { cwd: mntB, stdio: "ignore" }).once("exit", r));
        assert.equal(bDone, 0);
        assert.equal(await aDone, 0);
        const want = "base\nA1\nA2\nB\n";
        for (const r of [holder, a, b]) await until(() => read(r, "shared.log") === want, `both appends, in turn, in ${r} (${JSON.stringify([holder, a, b].map((x) => read(x, "shared.log")))})`);
        for (const r of [holder, a, b]) assert.ok(!fs.existsSync(path.join(r, ".intermezzo/conflicts")) || fs.readdirSync(path.join(r, ".intermezzo/conflicts")).length === 0, `no conflict kept in ${r}`);
        for (const w of ws) assert.doesNotMatch(w.log(), /conflict/, w.log());
      } finally {
        for (const w of ws) await w.stop();
        for (const [child, mnt] of mounts) await stopMount(child, mnt);
        await server.stop();
      }
    });
  }
  it("a lazy replica attached live: a broken callback drops the data it had fetched back to a placeholder, and the next read brings the new version", async () => {
    const holder = dir();
    write(holder, "page.html", "version one");
    const lazy = path.join(dir(), "lazy");
    const mnt = dir();
    assert.equal((await runCli(IMZ_BIN, ["replicate", holder, lazy, "--lazy"])).code, 0);
    const mount = await startMount(lazy, mnt);
    let w: Watcher | undefined;
    try {
      assert.equal(fs.readFileSync(path.join(mnt, "page.html"), "utf8"), "version one");
      assert.ok(fs.statSync(path.join(lazy, "page.html")).blocks > 0, "fetched on first read");
      w = await watch([lazy, holder]);
      write(holder, "page.html", "version two, longer");
      const file = path.join(lazy, "page.html");
      await until(() => fs.statSync(file).size === "version two, longer".length && fs.statSync(file).blocks === 0, "a placeholder of the new size");
      // Read through the mount: for up to the kernel's attribute timeout (1 s) a reader may get the old
      // size (version one's cached pages, or version two cut at version one's length: FUSE's cache,
      // docs/DESIGN.md); a placeholder's zeros must never be read as content.
      const seen = new Set<string>();
      await until(() => {
        const text = fs.readFileSync(path.join(mnt, "page.html"), "utf8");
        seen.add(text);
        return text === "version two, longer";
      }, "the new version read through the mount");
      const stale = (t: string): boolean => t === "version one" || t === "version two, longer".slice(0, "version one".length);
      assert.deepEqual([...seen].filter((t) => t !== "version two, longer" && !stale(t)), [], "only versions (or the old size's cut), never a placeholder's zeros");
    } finally {
      await w?.stop();
      await stopMount(mount, mnt);
    }
  });
});
