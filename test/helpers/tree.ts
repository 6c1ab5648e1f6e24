/**
 * Test trees: a generator of varied trees (nested and empty directories, unicode, spaces and long
 * names, symlinks incl. dangling, hard links, modes, mtimes, empty/small/large files) and a manifest
 * that two trees are compared by (path, type, mode, size, mtime, link target, content hash, hard-link
 * groups). `.intermezzo/` is never part of a manifest; the root's own mtime is not compared.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { specialOf } from "../../src/filter/object-stat.js";
import { scan } from "../../src/filter/scanner.js";
import { FileSet } from "../../src/journal/fileset.js";

/** A deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` pseudo-random bytes from `seed`, fast enough for hundreds of MiB. */
export function randomBytes(n: number, seed: number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  let x = seed | 1;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf.writeInt32LE(x | 0, i);
  }
  for (; i < n; i++) buf[i] = (x >>> (8 * (i % 4))) & 0xff;
  return buf;
}

/** Writes a large file of pseudo-random content in 8 MiB pieces. */
export function writeLargeFile(file: string, size: number, seed: number): void {
  const fd = fs.openSync(file, "w");
  try {
    const piece = 8 << 20;
    for (let off = 0; off < size; off += piece) fs.writeSync(fd, randomBytes(Math.min(piece, size - off), seed + off));
  } finally {
    fs.closeSync(fd);
  }
}

/** A fresh temp directory. */
export function tempDir(prefix = "imz-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Temp directories made by `dir()`, all removed by `cleanup()` (call it in `after`). */
export function scratchDirs(prefix: string): { dir(): string; cleanup(): void } {
  const made: string[] = [];
  return {
    dir: () => {
      const d = tempDir(prefix);
      made.push(d);
      return d;
    },
    cleanup: () => {
      for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Writes `text` at `rel` below `root`, making the directories on the way. */
export function put(root: string, rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}

/** Options of {@link makeVariedTree}. */
export interface TreeOptions {
  seed?: number;
  /** Add one file of this many bytes (e.g. 200 MiB). */
  largeFile?: number;
}

/** Fills `root` with a tree exercising every kind of object the sync replicates. */
export function makeVariedTree(root: string, opts: TreeOptions = {}): void {
  const r = rng(opts.seed ?? 1);
  const mk = (rel: string): string => {
    const p = path.join(root, rel);
    fs.mkdirSync(p, { recursive: true });
    return p;
  };
  mk("a/b/c/d");
  mk("empty dir");
  mk("ünïcödé/日本語");
  mk("with space/and more");
  const long = "L".repeat(200) + "é".repeat(27); // 254 bytes
  const files: Array<[string, number]> = [
    ["top.txt", 12],
    ["a/one", 1],
    ["a/b/two.bin", 4096],
    ["a/b/c/d/deep", 70_000],
    ["ünïcödé/日本語/ファイル.txt", 333],
    ["with space/and more/file with spaces", 1500],
    [`a/${long}`, 10],
    ["empty", 0],
  ];
  for (const [rel, size] of files) fs.writeFileSync(path.join(root, rel), randomBytes(size, Math.floor(r() * 1e9)));
  fs.chmodSync(path.join(root, "a/one"), 0o600);
  fs.chmodSync(path.join(root, "a/b/two.bin"), 0o755);
  fs.chmodSync(path.join(root, "with space"), 0o750);
  fs.symlinkSync("../top.txt", path.join(root, "a/link-to-top"));
  fs.symlinkSync("nowhere/at/all", path.join(root, "a/dangling"));
  fs.symlinkSync("b", path.join(root, "a/dirlink"));
  fs.linkSync(path.join(root, "a/b/two.bin"), path.join(root, "a/hard-two"));
  fs.utimesSync(path.join(root, "top.txt"), new Date("2001-02-03T04:05:06Z"), new Date("2001-02-03T04:05:06Z"));
  if (opts.largeFile) writeLargeFile(path.join(root, "large.bin"), opts.largeFile, 7);
}

/** One manifest line per object. */
export interface ManifestEntry {
  path: string;
  /** `s`: a special file (FIFO, socket, device), its kind in `target`. */
  type: "f" | "d" | "l" | "s";
  mode: number;
  size: number;
  mtimeNs: string;
  target: string;
  hash: string;
  /** Paths of the other names of the same inode (hard links), sorted. */
  links: string[];
}

/** The manifest of a tree, sorted by path. */
export function manifest(root: string): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  const byIno = new Map<string, string[]>();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      if (rel === "" && name === ".intermezzo") continue;
      const p = rel === "" ? name : `${rel}/${name}`;
      const abs = path.join(root, p);
      const st = fs.lstatSync(abs, { bigint: true });
      const type = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : st.isFile() ? "f" : "s";
      const e: ManifestEntry = {
        path: p,
        type,
        mode: Number(st.mode & 0o7777n),
        size: type === "f" ? Number(st.size) : 0,
        mtimeNs: st.mtimeNs.toString(),
        target: type === "l" ? fs.readlinkSync(abs) : type === "s" ? specialOf(st) : "",
        hash: type === "f" ? createHash("sha256").update(fs.readFileSync(abs)).digest("hex") : "",
        links: [],
      };
      if (type === "l") e.mode = 0;
      out.push(e);
      if (type === "f" && st.nlink > 1n) {
        const k = `${st.dev}:${st.ino}`;
        byIno.set(k, [...(byIno.get(k) ?? []), p]);
      }
      if (type === "d") walk(p);
    }
  };
  walk("");
  for (const group of byIno.values()) for (const e of out) if (group.includes(e.path)) e.links = group.filter((g) => g !== e.path).sort();
  return out;
}

/** Paths of files under `.intermezzo/tmp` (temp files a run left behind). */
export function leftoverTemps(root: string): string[] {
  const dir = path.join(root, ".intermezzo", "tmp");
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

/** Journals what changed in the tree at `root` since its last scan (a forced scan), without syncing. */
export async function scanned(root: string): Promise<void> {
  const set = FileSet.open(root);
  try {
    await scan(set, { force: true });
  } finally {
    set.close();
  }
}

/** Runs `f` on the file set at `root`, opened for it and closed after. */
export function withSet<T>(root: string, f: (s: FileSet) => T): T {
  const set = FileSet.open(root);
  try {
    return f(set);
  } finally {
    set.close();
  }
}
