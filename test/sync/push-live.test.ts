/**
 * A live mirror run on its master (`intermezzo-sync --mirror --watch SRC DEST`, as lsyncd is run):
 * SRC holds, DEST is the replica — local, or on another host over a real OpenSSH server (the push
 * form: the replica's live attachment runs there, under the `serve --stdio` this process starts).
 * The master's creates, edits, renames and deletes reach DEST with no further command; a remote
 * `serve` killed by its pid, or the connection cut (a TCP relay resets it), is reconnected by the
 * session itself and DEST catches up with what changed meanwhile; SIGTERM ends it cleanly (exit 0,
 * no stack trace, the remote replica let go); `intermezzo status` on the master lists the session, live
 * while it runs and not live once its process is killed. Waits poll the trees; no timed assertions.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { IMZ_BIN, runCli, SYNC_BIN } from "../helpers/cli.js";
import { read, stopAll, until, watch, type Watcher } from "../helpers/live.js";
import { startRelay, type Relay } from "../helpers/relay.js";
import { clientHome, REMOTE_SERVE, startListenerChild, type ClientHome } from "../helpers/remote.js";
import { startSshd, type TestSshd } from "../helpers/sshd.js";
import { manifest, put, scratchDirs } from "../helpers/tree.js";

const scratch = scratchDirs("imz-push-live-");
const dir = scratch.dir;

/** The pid in the replica's lock: the process running its live attachment (here, the remote serve). */
function lockPid(root: string): number | undefined {
  try {
    return (JSON.parse(fs.readFileSync(path.join(root, ".intermezzo", "lock"), "utf8")) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

/** True while `pid` runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A push session as `intermezzo status --json` lists it on the master. */
interface PushSession {
  dest: string;
  state: string;
  pid: number;
  stale: boolean;
  lastExchange?: number;
}

/** Polls the master's `intermezzo status --json` until its one push session satisfies `pred`; returns that session. */
async function statusUntil(master: string, pred: (p: PushSession | undefined) => boolean, what: string): Promise<PushSession> {
  for (const end = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const r = await runCli(IMZ_BIN, ["status", "--json", master]);
    assert.equal(r.code, 0, r.stderr);
    const sessions = (JSON.parse(r.stdout) as { pushSessions?: PushSession[] }).pushSessions;
    if (pred(sessions?.[0])) {
      assert.equal(sessions!.length, 1, JSON.stringify(sessions));
      return sessions![0]!;
    }
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}: ${r.stdout}`);
  }
}

/** `text` as a regular expression matching itself. */
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** How many times the session's log says `state` so far. */
function times(w: Watcher, state: "live" | "disconnected"): number {
  return (w.log().match(new RegExp(` ${state}[:\n]`, "g")) ?? []).length;
}

/** The master's create, edit, rename and delete, each awaited in `web`. */
async function everyKindOfChange(master: string, web: string): Promise<void> {
  put(master, "news/today.html", "fresh news");
  await until(() => read(web, "news/today.html") === "fresh news", "the created page in DEST");
  put(master, "news/today.html", "fresh news, corrected");
  await until(() => read(web, "news/today.html") === "fresh news, corrected", "the edit in DEST");
  fs.renameSync(path.join(master, "news/today.html"), path.join(master, "news/yesterday.html"));
  await until(() => read(web, "news/yesterday.html") === "fresh news, corrected" && read(web, "news/today.html") === undefined, "the rename in DEST");
  fs.rmSync(path.join(master, "old.html"));
  await until(() => read(web, "old.html") === undefined, "the delete in DEST");
}

/** Stops `w` with SIGTERM and checks that it ended cleanly. */
async function stopCleanly(w: Watcher): Promise<void> {
  const exit = await w.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, w.log());
  assert.doesNotMatch(w.log(), /\n\s+at |internal error/, "no stack trace");
  assert.match(w.log(), / stopped\n/);
}

describe("live mirror on its master: intermezzo-sync --mirror --watch SRC DEST", () => {
  let sshd: TestSshd;
  let relay: Relay;
  let home: ClientHome;
  before(async () => {
    sshd = await startSshd();
    relay = await startRelay(sshd.port);
    const [type, key] = sshd.hostKeyPub.split(" ");
    home = clientHome(dir(), sshd, [`[127.0.0.1]:${relay.port} ${type} ${key}`]);
  });
  after(async () => {
    await stopAll();
    await relay?.close();
    await sshd?.stop();
    scratch.cleanup();
  });

  it("both local: the master's changes reach DEST as they are made; SIGTERM ends it cleanly", async () => {
    const [master, web] = [dir(), dir()];
    put(master, "index.html", "home");
    put(master, "old.html", "to be deleted");
    const w = await watch(["--mirror", master, web]);
    try {
      assert.equal(read(web, "index.html"), "home");
      await everyKindOfChange(master, web);
      await until(() => JSON.stringify(manifest(web)) === JSON.stringify(manifest(master)), "DEST identical");
    } finally {
      await stopCleanly(w);
    }
  });

  it("over SSH (the push form): changes reach the remote DEST; a killed remote serve and a cut connection are reconnected by the session and DEST catches up; SIGTERM ends it and the remote replica lets go", async () => {
    const [master, web] = [dir(), dir()];
    put(master, "index.html", "home");
    put(master, "old.html", "to be deleted");
    const url = `ssh://root@127.0.0.1:${relay.port}${web}`;
    const hook = path.join(dir(), "hook.json");
    const w = await watch(["--mirror", "-i", home.key, "--remote-command", REMOTE_SERVE, "--notify-command", `cat > '${hook}'`, master, url], home.env);
    try {
      assert.equal(read(web, "index.html"), "home");
      await everyKindOfChange(master, web);

      // a stray file on the web host is reverted as it is made, kept there, and reported here (the hook runs on the master)
      put(web, "stray.html", "not from the master");
      await until(() => read(web, "stray.html") === undefined, "the stray file reverted");
      await until(() => fs.existsSync(hook) && fs.readFileSync(hook, "utf8").includes("mirror/revert"), "the hook, run on the master");
      assert.match(w.log(), /conflict \(mirror\/revert\): stray\.html/);

      // the remote serve killed by its pid: the session notices, retries, and DEST catches up
      const remote = lockPid(web);
      assert.ok(remote !== undefined && remote !== w.child.pid, "the replica is held by the remote serve");
      let [live, cuts] = [times(w, "live"), times(w, "disconnected")];
      process.kill(remote, "SIGKILL");
      await until(() => times(w, "disconnected") > cuts, "the session to notice the kill");
      put(master, "while-killed.html", "written while the remote was gone");
      fs.rmSync(path.join(master, "index.html"));
      await until(() => times(w, "live") > live, "the session to be live again");
      await until(() => read(web, "while-killed.html") === "written while the remote was gone" && read(web, "index.html") === undefined, "the changes made meanwhile in DEST");

      // the connection cut (both TCP ends reset, neither process touched)
      [live, cuts] = [times(w, "live"), times(w, "disconnected")];
      relay.cut();
      await until(() => times(w, "disconnected") > cuts, "the session to notice the cut");
      put(master, "while-cut.html", "written while the network was down");
      await until(() => times(w, "live") > live, "the session to be live after the cut");
      await until(() => read(web, "while-cut.html") === "written while the network was down", "the change made during the cut in DEST");
      // and live again: a change after the reconnection arrives by itself
      put(master, "after.html", "after the cut");
      await until(() => read(web, "after.html") === "after the cut", "a change after the reconnection");
      await until(() => JSON.stringify(manifest(web)) === JSON.stringify(manifest(master)), "DEST identical");
    } finally {
      await stopCleanly(w);
    }
    // the remote replica let go of its tree (its serve stopped and released the lock)
    await until(() => lockPid(web) === undefined || !alive(lockPid(web)!), "the remote replica to let go");
    assert.equal(read(master, "after.html"), "after the cut", "the master is never touched by its mirror");
  });

  it("a change on the master the moment the session says it is live arrives (the holder's tree is watched before the replica is told it is live)", async () => {
    const [master, web] = [dir(), dir()];
    put(master, "index.html", "home");
    // a tree big enough that the holder's watcher takes a while to start (it watches every directory, then scans)
    for (let d = 0; d < 3000; d++) fs.mkdirSync(path.join(master, `d${d}`, "e"), { recursive: true });
    const w = await watch(["--mirror", "-i", home.key, "--remote-command", REMOTE_SERVE, master, `ssh://root@127.0.0.1:${sshd.port}${web}`], home.env);
    try {
      fs.mkdirSync(path.join(master, "in"));
      for (let i = 0; i < 3; i++) {
        put(master, `in/${i}.txt`, `file ${i}`);
        await until(() => read(web, `in/${i}.txt`) === `file ${i}`, `file ${i} in DEST`);
      }
    } finally {
      await stopCleanly(w);
    }
  });

  it("intermezzo status on the master shows the push session: live while it runs; killed by its pid, not live, with when it was last live and exchanged", async () => {
    const [master, web] = [dir(), dir()];
    put(master, "index.html", "home");
    const url = `ssh://root@127.0.0.1:${sshd.port}${web}`;
    const w = await watch(["--mirror", "-i", home.key, "--remote-command", REMOTE_SERVE, master, url], home.env);
    try {
      put(master, "news.html", "news");
      await until(() => read(web, "news.html") === "news", "the page in DEST");
      const running = await statusUntil(master, (p) => p?.lastExchange !== undefined, "the session's exchange in the master's status");
      assert.deepEqual([running.dest, running.state, running.pid, running.stale], [url, "live", w.child.pid, false]);
      const text = await runCli(IMZ_BIN, ["status", master]);
      assert.match(text.stdout, new RegExp(`push session to ${escape(url)}: live since \\S+; last exchange \\S+\\n`));

      process.kill(w.child.pid!, "SIGKILL");
      await w.stop(); // already ended: its exit
      const gone = await statusUntil(master, (p) => p?.stale === true, "the killed session in the master's status");
      assert.deepEqual([gone.state, gone.pid, gone.lastExchange], ["live", w.child.pid, running.lastExchange]);
      const after = await runCli(IMZ_BIN, ["status", master]);
      assert.match(after.stdout, new RegExp(`push session to ${escape(url)}: not live \\(its process ${w.child.pid} is gone; it was live since \\S+\\); last exchange \\S+\\n`));
    } finally {
      await w.stop();
    }
  });

  it("a refusal stops the session at once with its code (an empty master: EMPTY_SOURCE, exit 5), not a retry loop", async () => {
    const [master, web] = [dir(), dir()];
    put(web, "index.html", "the site");
    const r = await runCli(SYNC_BIN, ["--mirror", "--watch", "-i", home.key, "--remote-command", REMOTE_SERVE, master, `ssh://root@127.0.0.1:${sshd.port}${web}`], { env: home.env });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /\[EMPTY_SOURCE\]/);
    assert.doesNotMatch(r.stderr, /disconnected|\n\s+at /);
    assert.equal(read(web, "index.html"), "the site");
  });

  it("through Lento's listener (DEST imz://…): changes pushed live; the listener stopped (SIGTERM) and restarted, the session reconnects and DEST catches up", async () => {
    const master = dir();
    const served = path.join(dir(), "www");
    fs.mkdirSync(served);
    put(master, "index.html", "home");
    const keys = dir();
    let listener = await startListenerChild([served], keys, `${sshd.userKeyPath}.pub`);
    const port = listener.port;
    try {
      fs.appendFileSync(home.knownHosts, `${listener.knownHostsLine}\n`);
      const w = await watch(["--mirror", "-i", home.key, master, `imz://alice@127.0.0.1:${port}/${listener.names[0]}`], home.env);
      try {
        put(master, "news.html", "news");
        await until(() => read(served, "news.html") === "news", "the new page on the listener's host");
        const live = times(w, "live");
        await listener.stop();
        await until(() => / disconnected/.test(w.log()), "the session to notice the listener's shutdown");
        put(master, "while-down.html", "written while the listener was down");
        listener = await startListenerChild([served], keys, `${sshd.userKeyPath}.pub`, port);
        await until(() => times(w, "live") > live, "the session to be live again");
        await until(() => read(served, "while-down.html") === "written while the listener was down", "the change made meanwhile");
        await until(() => JSON.stringify(manifest(served)) === JSON.stringify(manifest(master)), "DEST identical");
      } finally {
        await stopCleanly(w);
      }
    } finally {
      await listener.stop();
    }
  });

  it("a two-way file set held here with its replica remote (--holder src --watch SRC host:DEST): each side's changes reach the other live", async () => {
    const [here, there] = [dir(), dir()];
    put(here, "shared.txt", "v1");
    const url = `ssh://root@127.0.0.1:${sshd.port}${there}`;
    const w = await watch(["--holder", "src", "-i", home.key, "--remote-command", REMOTE_SERVE, here, url], home.env);
    try {
      assert.equal(read(there, "shared.txt"), "v1");
      put(there, "from-there.txt", "written on the replica's host");
      await until(() => read(here, "from-there.txt") === "written on the replica's host", "the remote replica's file here");
      put(here, "shared.txt", "v2, edited here");
      await until(() => read(there, "shared.txt") === "v2, edited here", "the holder's edit there");
      await until(() => JSON.stringify(manifest(there)) === JSON.stringify(manifest(here)), "both trees identical");
    } finally {
      await stopCleanly(w);
    }
  });
});
