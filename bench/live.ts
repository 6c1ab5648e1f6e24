/**
 * bench/live: propagation latency of live replicas (`intermezzo-sync --watch`). A complete file is
 * renamed (rename(2)) into replica A; the clock stops when replica B has it with its full content.
 * p50 and p99 over N files (default 100), one after another, through one holder:
 *
 * - watcher: two replicas of a local holder, their changes journaled by the watcher (each process
 *   runs the holder in-process; they learn of each other's records through the holder's log); the
 *   file is written beside the tree first, so it appears whole;
 * - the same with 10 replicas attached;
 * - Presto mount: replicas A and B each mounted (`intermezzo mount`), the file written and renamed
 *   through A's mount (a rename cannot cross into a FUSE mount, so the file is written under a
 *   temp name inside the mount first — an editor's save — and the clock starts at the rename);
 * - `serve --listen`: the holder a `serve --listen` process, the replicas reaching it as `imz://`
 *   over Lento's SSH listener on loopback, its pushes their only news of each other's changes;
 * - a web mirror over SSH (a real sshd on loopback): the file renamed into the master (the holder,
 *   journaled by its watcher) until the web host's tree has it, `--mirror --watch` run on the master
 *   (the push form: the replica's attachment runs under the remote serve) or on the web host (the
 *   pull form).
 *
 * Prints the load average with the table (the machine is shared: read it beside the figures).
 *
 *   npm run build && node --import tsx bench/live.ts [files] [replicas] [only cases whose name contains this]
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { IMZ_BIN, SYNC_BIN } from "../test/helpers/cli.js";
import { clientHome, REMOTE_SERVE, startListenerChild, type ListenerChild } from "../test/helpers/remote.js";
import { sshKeygen, startSshd } from "../test/helpers/sshd.js";

const FILES = Number(process.argv[2] ?? 100);
const MANY = Number(process.argv[3] ?? 10);
/** Runs only the cases whose name contains this (all when absent). */
const ONLY = process.argv[4];
const wants = (name: string): boolean => ONLY === undefined || name.includes(ONLY);

/** Starts `bin` with `args` and resolves once its stderr or stdout matches `ready`. */
function startChild(bin: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"], env }); // executed as a user runs it (its shell line, then Node)
  let log = "";
  return new Promise((resolve, reject) => {
    const hear = (b: Buffer): void => {
      log += b.toString();
      if (ready.test(log)) resolve(child);
    };
    child.stdout!.on("data", hear);
    child.stderr!.on("data", hear);
    child.once("exit", (code) => reject(new Error(`${path.basename(bin)} ${args[0]} exited (${code}):\n${log}`)));
  });
}

const startWatch = (replica: string, holder: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Promise<ChildProcess> =>
  startChild(SYNC_BIN, ["--watch", ...extra, replica, holder], / live\n/, env);

/** SIGTERM to each child by its pid; waits for them all. */
async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once("exit", () => r());
          process.kill(c.pid!, "SIGTERM");
        }),
    ),
  );
}

/**
 * Milliseconds from the rename into `a` until `b` has the file's full content, for each file.
 * `staging` is where the whole file is written first (same filesystem as `a`).
 */
async function measure(a: string, b: string, staging: string, tag: string): Promise<number[]> {
  const out: number[] = [];
  fs.mkdirSync(path.join(a, "in"), { recursive: true });
  fs.mkdirSync(staging, { recursive: true });
  for (let i = 0; i < FILES; i++) {
    const body = `${tag} file ${i} `.repeat(200);
    const tmp = path.join(staging, `${tag}-${i}`);
    fs.writeFileSync(tmp, body);
    const target = path.join(b, "in", `${tag}-${i}.txt`);
    const t0 = process.hrtime.bigint();
    fs.renameSync(tmp, path.join(a, "in", `${tag}-${i}.txt`));
    for (;;) {
      try {
        if (fs.readFileSync(target, "utf8") === body) break;
      } catch {
        // not there yet
      }
      await new Promise((r) => setImmediate(r));
    }
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await new Promise((r) => setTimeout(r, 20));
  }
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-bench-live-"));
const children: ChildProcess[] = [];
const listeners: ListenerChild[] = [];
const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(" ");
try {
  const staging = path.join(base, "staging");
  const rows: Array<[string, number[], string]> = [];
  const dirs = (tag: string, replicas: number): { holder: string; rs: string[] } => {
    const holder = path.join(base, `${tag}-holder`);
    fs.mkdirSync(holder);
    const rs = Array.from({ length: replicas }, (_, i) => path.join(base, `${tag}-r${i}`));
    for (const r of rs) fs.mkdirSync(r);
    return { holder, rs };
  };
  const row = async (name: string, a: string, b: string, stage: string, tag: string): Promise<void> => {
    const before = load();
    rows.push([name, await measure(a, b, stage, tag), `${before} → ${load()}`]);
    await stop(children.splice(0));
  };

  // the watcher
  for (const [name, n, tag] of [["watcher, 2 replicas of a local holder", 2, "two"], [`watcher, ${MANY} replicas attached`, MANY, "many"]] as const) {
    if (!wants(name)) continue;
    const { holder, rs } = dirs(tag, n);
    for (const r of rs) children.push(await startWatch(r, holder));
    await row(name, rs[0]!, rs[1]!, staging, tag);
  }

  // the Presto mount journaling A and B: made replicas first, then mounted, then live
  if (wants("Presto mount")) {
    const { holder, rs } = dirs("mount", 2);
    const mounts = rs.map((r) => `${r}-mnt`);
    for (const [i, r] of rs.entries()) {
      await stop([await startWatch(r, holder)]);
      fs.mkdirSync(mounts[i]!);
    }
    const mounted = await Promise.all(rs.map((r, i) => startChild(IMZ_BIN, ["mount", "--foreground", r, mounts[i]!], /^mounted /m)));
    try {
      for (const r of rs) children.push(await startWatch(r, holder));
      await row("Presto mount on A and B, 2 replicas of a local holder", mounts[0]!, rs[1]!, path.join(mounts[0]!, "staging"), "mnt");
    } finally {
      await stop(mounted);
    }
  }

  // through one `serve --listen` holder (imz://)
  if (wants("serve --listen")) {
    const { holder, rs } = dirs("listen", 2);
    const keys = path.join(base, "keys");
    const key = path.join(keys, "id_ed25519");
    await sshKeygen(key);
    const listener = await startListenerChild([holder], keys, `${key}.pub`);
    listeners.push(listener);
    const home = path.join(base, "home");
    fs.mkdirSync(path.join(home, ".ssh"), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(home, ".ssh", "known_hosts"), `${listener.knownHostsLine}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
    delete env["SSH_AUTH_SOCK"];
    const url = `imz://bench@127.0.0.1:${listener.port}/${listener.names[0]}`;
    for (const r of rs) children.push(await startWatch(r, url, ["-i", key], env));
    await row("serve --listen holder (imz:// on loopback), 2 replicas", rs[0]!, rs[1]!, staging, "imz");
  }

  // a web mirror over SSH (a real sshd on loopback): a change on the master until the web host's
  // tree has it, the session run on the master (the push form) or on the web host (the pull form)
  if (wants("mirror over SSH")) {
    const sshd = await startSshd();
    try {
      const home = clientHome(path.join(base, "ssh-home"), sshd);
      for (const form of ["push", "pull"] as const) {
        const [master, web] = [path.join(base, `${form}-master`), path.join(base, `${form}-web`)];
        for (const d of [master, web]) fs.mkdirSync(d);
        fs.writeFileSync(path.join(master, "index.html"), "home");
        const ends = form === "push" ? [master, `ssh://root@127.0.0.1:${sshd.port}${web}`] : [`ssh://root@127.0.0.1:${sshd.port}${master}`, web];
        children.push(await startChild(SYNC_BIN, ["--watch", "--mirror", "-i", home.key, "--remote-command", REMOTE_SERVE, ...ends], / live\n/, home.env));
        await row(`mirror over SSH, master → web host: ${form} form (run on the ${form === "push" ? "master" : "web host"})`, master, web, staging, form);
      }
    } finally {
      await stop(children.splice(0));
      await sshd.stop();
    }
  }

  console.log(`\nbench/live: ${FILES} files renamed into replica A, time until replica B has each; ${os.cpus().length} cores, load average (1/5/15 min) ${load()}\n`);
  console.log("| case | p50 | p99 | max | load average before → after |");
  console.log("|---|---:|---:|---:|---|");
  for (const [name, xs, l] of rows) console.log(`| ${name} | ${pct(xs, 50).toFixed(0)} ms | ${pct(xs, 99).toFixed(0)} ms | ${Math.max(...xs).toFixed(0)} ms | ${l} |`);
} finally {
  await stop(children);
  for (const l of listeners) await l.stop();
  fs.rmSync(base, { recursive: true, force: true });
}
