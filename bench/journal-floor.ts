/**
 * bench/journal-floor: what a first copy's journal rows cost at the least, beside `rsync -a`'s whole
 * first copy of the same tree. A first copy journals every object twice on each side, as the design
 * requires (docs/DESIGN.md "Records"): the replica's Fsdb row and CML record (the scan), then the
 * holder's version stamp on that row and the record dropped (acceptance); the holder's Fsdb row and
 * server-log record (the replay). Here those rows are written for FILES objects as cheaply as
 * better-sqlite3 allows — the real schema (`openDb`), one transaction per side, prepared statements
 * with positional parameters, nothing else — and `rsync -a` copies a generated tree of FILES small
 * files into a fresh destination (the source read once before each run). The content hash every
 * version carries (BLAKE2b-256, the addon's) is timed over the same files' bytes already in memory.
 * Prints the medians: the rows' and the hashes' CPU time, rsync's wall and CPU time, and the wall
 * time a first copy could reach at best if its file work cost no more CPU than rsync's and both
 * cores were busy throughout: (rsync's CPU + rows + hashes) / cores.
 *
 *   node --import tsx bench/journal-floor.ts [files] [rounds]
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { hashBuffer } from "../src/journal/content-hash.js";
import { openDb, type Db } from "../src/journal/db.js";
import { makeSmallTree, smallFileContent } from "./small-tree.js";

const FILES = Number(process.argv[2] ?? 30_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const DIRS = Math.max(1, Math.round(FILES / 100));
const ORIGIN = "cfdd373b66e1";
const HOLDER = "446d6f05d43e";

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(" ");

/** One object as the journal describes a small file of a first copy. */
interface Obj {
  fid: string;
  parent: string;
  name: string;
  version: string;
  size: number;
  mtimeNs: string;
  hash: string;
  ino: string;
}

function objects(): Obj[] {
  return Array.from({ length: FILES }, (_, i) => ({
    fid: `${ORIGIN}:${i + DIRS + 1}`,
    parent: `${ORIGIN}:${(i % DIRS) + 1}`,
    name: `f${Math.floor(i / DIRS)}.txt`,
    version: `${HOLDER}:${i + DIRS + 1}`,
    size: 7 + (i % 4000),
    mtimeNs: `1796401328105${String(i).padStart(6, "0")}`,
    // a content hash's shape (64 hex digits), spread as real hashes are
    hash: Buffer.alloc(32, 0).fill(String(i * 2654435761)).toString("hex"),
    ino: `65024:${2260687 + i}`,
  }));
}

const COLUMNS = "fid, type, parent, name, version, size, mtime_ns, mode, uid, gid, hash, target, flags, ino, ctime_ns, xattrs";

/** The body of a create record for `o` (the fields a first copy's records carry). */
function createBody(o: Obj, extra: object = {}): string {
  return JSON.stringify({
    op: "create",
    fid: o.fid,
    parent: o.parent,
    name: o.name,
    time: 1796401978690,
    attrs: { mode: 0o644, uid: 0, gid: 0, mtimeNs: o.mtimeNs },
    content: { size: o.size, mtimeNs: o.mtimeNs, hash: o.hash },
    origin: ORIGIN,
    ...extra,
  });
}

/** The replica's rows: Fsdb row and CML record per file, then each row stamped and its record dropped. */
function replicaRows(db: Db, objs: Obj[]): void {
  const put = db.prepare(`INSERT OR REPLACE INTO objects (${COLUMNS}) VALUES (${Array(16).fill("?").join(",")})`);
  const append = db.prepare(`INSERT INTO cml (fid, body) VALUES (?, ?)`);
  const stamp = db.prepare(`UPDATE objects SET version = ? WHERE fid = ?`);
  const drop = db.prepare(`DELETE FROM cml WHERE seq = ?`);
  const seqs: number[] = [];
  db.transaction(() => {
    for (const o of objs) {
      put.run(o.fid, "f", o.parent, o.name, "", o.size, o.mtimeNs, 0o644, 0, 0, o.hash, null, 3, o.ino, o.mtimeNs, "");
      seqs.push(Number(append.run(o.fid, createBody(o)).lastInsertRowid));
    }
  })();
  db.transaction(() => {
    objs.forEach((o, i) => {
      stamp.run(o.version, o.fid);
      drop.run(seqs[i]!);
    });
  })();
}

/** The holder's rows: Fsdb row and server-log record per file. */
function holderRows(db: Db, objs: Obj[]): void {
  const put = db.prepare(`INSERT OR REPLACE INTO objects (${COLUMNS}) VALUES (${Array(16).fill("?").join(",")})`);
  const log = db.prepare(`INSERT INTO server_log (volume, origin, origin_seq, fid, version, body) VALUES (?, ?, ?, ?, ?, ?)`);
  db.transaction(() => {
    objs.forEach((o, i) => {
      put.run(o.fid, "f", o.parent, o.name, o.version, o.size, o.mtimeNs, 0o644, 0, 0, o.hash, null, 3, o.ino, o.mtimeNs, "");
      log.run(i + 1, ORIGIN, i + 1, o.fid, o.version, createBody(o, { seq: i + 1, originSeq: i + 1 }));
    });
  })();
}

/** CPU milliseconds (user + system) of writing both sides' rows into fresh databases, closed at the end. */
function rowsCpu(dir: string, objs: Obj[]): number {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  const before = process.cpuUsage();
  const replica = openDb(path.join(dir, "replica.db"), true);
  const holder = openDb(path.join(dir, "holder.db"), true);
  replicaRows(replica, objs);
  holderRows(holder, objs);
  replica.close();
  holder.close();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** CPU milliseconds of hashing every file's content (in memory). */
function hashesCpu(contents: Buffer[]): number {
  const before = process.cpuUsage();
  for (const c of contents) hashBuffer(c);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

/**
 * Wall and CPU seconds of one `rsync -a` first copy into a fresh `dest` (GNU time: its three
 * processes), and the wall seconds of making that copy durable afterwards (`sync -f`: one `syncfs`,
 * what a first copy's batches do along the way and rsync never does).
 */
function rsyncOnce(src: string, dest: string): { wall: number; cpu: number; flush: number } {
  fs.rmSync(dest, { recursive: true, force: true });
  spawnSync("sync", ["-f", path.dirname(dest)]);
  spawnSync("sh", ["-c", `tar cf - -C '${src}' . | cat > /dev/null`]);
  const r = spawnSync("/usr/bin/time", ["-f", "times %e %U %S", "rsync", "-a", `${src}/`, `${dest}/`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`rsync exited ${r.status}: ${r.stderr}`);
  const m = /times ([\d.]+) ([\d.]+) ([\d.]+)/.exec(r.stderr)!;
  const t = process.hrtime.bigint();
  spawnSync("sync", ["-f", dest]);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]), flush: Number(process.hrtime.bigint() - t) / 1e9 };
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-bench-floor-"));
try {
  const src = path.join(base, "src");
  makeSmallTree(src, FILES, DIRS);
  const objs = objects();
  const contents = Array.from({ length: FILES }, (_, n) => Buffer.from(smallFileContent(n)));
  const loadBefore = loadavg();
  const rows: number[] = [];
  const hashes: number[] = [];
  const rsyncWall: number[] = [];
  const rsyncCpu: number[] = [];
  const flushes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rows.push(rowsCpu(path.join(base, "db"), objs));
    hashes.push(hashesCpu(contents));
    const r = rsyncOnce(src, path.join(base, "rsync"));
    rsyncWall.push(r.wall);
    rsyncCpu.push(r.cpu);
    flushes.push(r.flush);
  }
  const cores = os.cpus().length;
  const rowsS = median(rows) / 1000;
  const hashS = median(hashes) / 1000;
  const best = (median(rsyncCpu) + rowsS + hashS) / cores;
  console.log(`\nbench/journal-floor: ${FILES} files in ${DIRS} directories, ${ROUNDS} rounds (medians), ${cores} cores, load ${loadBefore} → ${loadavg()}\n`);
  console.log(
    "| files | journal rows, CPU | content hashes, CPU | rsync -a wall | rsync -a CPU | its copy made durable (`sync -f`) | rows / rsync wall | best first copy: (rsync CPU + rows + hashes) / cores | best / rsync wall |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  console.log(
    `| ${FILES.toLocaleString("en")} | ${rowsS.toFixed(2)} s | ${hashS.toFixed(2)} s | ${median(rsyncWall).toFixed(2)} s | ${median(rsyncCpu).toFixed(2)} s | ${median(flushes).toFixed(2)} s | ${(rowsS / median(rsyncWall)).toFixed(2)} | ${best.toFixed(2)} s | ${(best / median(rsyncWall)).toFixed(2)} |`,
  );
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
