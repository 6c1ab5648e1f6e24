/**
 * bench/ssh: the first copy of a tree to localhost over SSH, through a real OpenSSH sshd (the test
 * helper's, on a loopback port), by `intermezzo-sync` (ssh2 client, remote `intermezzo serve --stdio`),
 * `rsync -a -e ssh` and `scp -O -r` (the legacy scp protocol: the test sshd has no sftp subsystem), in the same run. Two trees: 1 GiB in large files (4 x 256 MiB,
 * pseudo-random) and 20,000 small files (about 56 MB in 100 directories). Each tool copies into a
 * fresh destination; intermezzo's source loses its `.intermezzo/` before each run, so every run is
 * a true first copy (scan and hash of the source included). Every copy is checked (file count and
 * bytes). Prints a markdown table of times and ratios to rsync.
 *
 * Note: intermezzo writes each file through temp + fsync + rename + directory fsync; rsync and scp
 * do not fsync.
 *
 *   node --import tsx bench/ssh.ts [--large-mib 1024] [--small-files 20000]   (0 skips a tree)
 *   IMZ_BASE=/other/checkout node --import tsx bench/ssh.ts   # also that build (both ends), as "before"
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { clientHome, REMOTE_SERVE } from "../test/helpers/remote.js";
import { startSshd, type TestSshd } from "../test/helpers/sshd.js";
import { tempDir, writeLargeFile } from "../test/helpers/tree.js";

const run = promisify(execFile);
const SYNC = fileURLToPath(new URL("../bin/intermezzo-sync", import.meta.url));
/** Another checkout to time in the same run (its own `intermezzo-sync` and remote `serve --stdio`). */
const BASE = process.env.IMZ_BASE;

const { values } = parseArgs({ options: { "large-mib": { type: "string", default: "1024" }, "small-files": { type: "string", default: "20000" } } });
const LARGE_MIB = Number(values["large-mib"]);
const SMALL_FILES = Number(values["small-files"]);

interface Tree {
  name: string;
  root: string;
  files: number;
  bytes: number;
}

function largeTree(root: string): Tree {
  const n = 4;
  const each = Math.floor((LARGE_MIB << 20) / n);
  fs.mkdirSync(root, { recursive: true });
  for (let i = 0; i < n; i++) writeLargeFile(path.join(root, `large${i}.bin`), each, 100 + i);
  return { name: `${LARGE_MIB} MiB in ${n} large files`, root, files: n, bytes: n * each };
}

function smallTree(root: string): Tree {
  const dirs = 100;
  let bytes = 0;
  for (let n = 0; n < SMALL_FILES; n++) {
    const dir = path.join(root, `d${String(n % dirs).padStart(3, "0")}`);
    if (n < dirs) fs.mkdirSync(dir, { recursive: true });
    const text = `file ${n} `.repeat(1 + ((n * 7919) % 560));
    fs.writeFileSync(path.join(dir, `f${n}.txt`), text);
    bytes += Buffer.byteLength(text);
  }
  return { name: `${SMALL_FILES.toLocaleString("en")} small files (${(bytes / 1e6).toFixed(0)} MB)`, root, files: SMALL_FILES, bytes };
}

/** Regular files and their total size under `root`, `.intermezzo/` excluded. */
function census(root: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (dir === root && e.name === ".intermezzo") continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        bytes += fs.statSync(p).size;
      }
    }
  };
  walk(root);
  return { files, bytes };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

type Tool = "intermezzo-sync" | "intermezzo before" | "rsync -a" | "scp -r";
const TOOLS: Tool[] = ["intermezzo-sync", ...(BASE ? (["intermezzo before"] as const) : []), "rsync -a", "scp -r"];

async function copy(tool: Tool, tree: Tree, dest: string, sshd: TestSshd, home: ReturnType<typeof clientHome>): Promise<number> {
  const ssh = ["-p", String(sshd.port), "-i", home.key, "-o", `UserKnownHostsFile=${home.knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"];
  const opts = { env: home.env, maxBuffer: 64 << 20 };
  switch (tool) {
    case "intermezzo-sync":
      fs.rmSync(path.join(tree.root, ".intermezzo"), { recursive: true, force: true });
      fs.mkdirSync(dest);
      return timed(() => run(process.execPath, [SYNC, "-i", home.key, "--remote-command", REMOTE_SERVE, tree.root, `ssh://root@127.0.0.1:${sshd.port}${dest}`], opts));
    case "intermezzo before": {
      fs.rmSync(path.join(tree.root, ".intermezzo"), { recursive: true, force: true });
      fs.mkdirSync(dest);
      const serve = `${process.execPath} ${path.join(BASE!, "bin/intermezzo")} serve --stdio`;
      return timed(() => run(process.execPath, [path.join(BASE!, "bin/intermezzo-sync"), "-i", home.key, "--remote-command", serve, tree.root, `ssh://root@127.0.0.1:${sshd.port}${dest}`], opts));
    }
    case "rsync -a":
      return timed(() => run("rsync", ["-a", "--exclude=/.intermezzo", "-e", ["ssh", ...ssh].join(" "), `${tree.root}/`, `root@127.0.0.1:${dest}/`], opts));
    case "scp -r":
      fs.rmSync(path.join(tree.root, ".intermezzo"), { recursive: true, force: true });
      return timed(() => run("scp", ["-O", "-q", "-r", "-P", String(sshd.port), ...ssh.slice(2), tree.root, `root@127.0.0.1:${dest}`], opts));
  }
}

/** Median time of `ssh HOST true`: the connection and remote shell start every tool pays once. */
async function sshSetup(sshd: TestSshd, home: ReturnType<typeof clientHome>): Promise<number> {
  const args = ["-p", String(sshd.port), "-i", home.key, "-o", `UserKnownHostsFile=${home.knownHosts}`, "-o", "BatchMode=yes", "root@127.0.0.1", "true"];
  const times: number[] = [];
  for (let i = 0; i < 3; i++) times.push(await timed(() => run("ssh", args, { env: home.env })));
  return times.sort((a, b) => a - b)[1]!;
}

async function main(): Promise<void> {
  const base = tempDir("imz-bench-ssh-");
  const sshd = await startSshd();
  const rows: string[] = [];
  let setup = 0;
  try {
    const home = clientHome(path.join(base, "home"), sshd);
    setup = await sshSetup(sshd, home);
    const trees: Tree[] = [];
    if (LARGE_MIB > 0) trees.push(largeTree(path.join(base, "large")));
    if (SMALL_FILES > 0) trees.push(smallTree(path.join(base, "small")));
    for (const tree of trees) {
      const times = new Map<Tool, number>();
      for (const tool of TOOLS) {
        const dest = path.join(base, "dest", `${path.basename(tree.root)}-${tool.split(" ")[0]}`);
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        const s = await copy(tool, tree, dest, sshd, home);
        const got = census(dest);
        if (got.files !== tree.files || got.bytes !== tree.bytes) {
          throw new Error(`${tool}: copied ${got.files} files / ${got.bytes} bytes, expected ${tree.files} / ${tree.bytes}`);
        }
        times.set(tool, s);
        process.stderr.write(`bench/ssh: ${tree.name}: ${tool} ${s.toFixed(2)} s\n`);
        fs.rmSync(dest, { recursive: true, force: true });
      }
      const rsync = times.get("rsync -a")!;
      const cells = TOOLS.map((t) => `${times.get(t)!.toFixed(2)} s (${(times.get(t)! / rsync).toFixed(2)}x)`);
      const mbps = (times.get("intermezzo-sync")! > 0 ? tree.bytes / 1e6 / times.get("intermezzo-sync")! : 0).toFixed(0);
      rows.push(`| ${tree.name} | ${cells.join(" | ")} | ${mbps} MB/s |`);
    }
  } finally {
    await sshd.stop();
    fs.rmSync(base, { recursive: true, force: true });
  }
  console.log(`First copy to localhost over SSH (OpenSSH sshd on loopback, ${new Date().toISOString().slice(0, 10)}); ratio = time / rsync's time.\n`);
  console.log(`Every tool pays one SSH connection and remote shell start: \`ssh HOST true\` takes ${setup.toFixed(2)} s here (median of 3).\n`);
  console.log(`| tree | ${TOOLS.join(" | ")} | intermezzo throughput |`);
  console.log(`|---|${TOOLS.map(() => "---:").join("|")}|---:|`);
  for (const r of rows) console.log(r);
}

await main();
