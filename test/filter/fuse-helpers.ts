/**
 * Real FUSE mounts for tests: a replica file set mounted through Presto, joined to a holder, and
 * the check every step ends with — the journal replayed into the holder gives the tree the mount
 * shows, and a scan of the file set finds nothing the filter missed.
 */
import assert from "node:assert/strict";
import { exec, execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { scan } from "../../src/filter/scanner.js";
import { isMounted } from "../../src/filter/mount.js";
import { FileSet } from "../../src/journal/fileset.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets, type SyncOptions, type SyncReport } from "../../src/sync/sync.js";
import { manifest, tempDir, type ManifestEntry } from "../helpers/tree.js";

const SYNC: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: true, replicaIsSrc: true };
const CLI_MAIN = fileURLToPath(new URL("./cli-main.ts", import.meta.url));

/** A replica mounted through the filter (by `intermezzo mount --foreground` in a child), and its holder. */
export interface FilteredReplica {
  /** The holding location under the mount. */
  dir: string;
  /** The mountpoint. */
  mnt: string;
  /** The holder the journal is replayed into. */
  holder: string;
}

/** Runs a shell command. */
export async function sh(cmd: string, cwd: string): Promise<string> {
  const r = await promisify(exec)(cmd, { cwd, maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: "C.UTF-8" } });
  return r.stdout;
}

/** Starts `intermezzo mount --foreground [FLAGS] DIR MNT` and resolves once it reports the mount is up. */
export async function startMount(dir: string, mnt: string, ...flags: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", CLI_MAIN, "mount", "--foreground", ...flags, dir, mnt], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().startsWith("mounted")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`intermezzo mount exited ${String(code)}: ${err}`)));
  });
  return child;
}

/** Unmounts `mnt` and waits for the mount's process to journal what is pending and exit. */
export async function stopMount(child: ChildProcess, mnt: string): Promise<void> {
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", () => resolve())));
  if (isMounted(mnt)) await promisify(execFile)("fusermount", ["-u", mnt]).catch(() => undefined);
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
  if (isMounted(mnt)) await promisify(execFile)("fusermount", ["-uz", mnt]).catch(() => undefined);
}

/** Creates a holder and a replica joined to it, mounts the replica, runs `fn`, always unmounts. */
export async function withFilteredReplica(fn: (r: FilteredReplica) => Promise<void>): Promise<void> {
  const holder = tempDir("imz-holder-");
  const dir = tempDir("imz-fsl-");
  const mnt = tempDir("imz-mnt-");
  let child: ChildProcess | undefined;
  try {
    await syncFileSets(dir, new LentoServer(holder, { owner: true }), SYNC);
    child = await startMount(dir, mnt);
    await fn({ dir, mnt, holder });
  } finally {
    if (child) await stopMount(child, mnt);
    for (const d of [holder, dir, mnt]) fs.rmSync(d, { recursive: true, force: true });
  }
}

/**
 * The filter's journal is complete: syncing it into the holder (the sync skips its scan, the set
 * being continuously filtered) makes the holder's tree equal the mount's, and a scan adds nothing.
 */
export async function assertJournalComplete(r: FilteredReplica): Promise<SyncReport> {
  const report = await syncFileSets(r.dir, new LentoServer(r.holder, { owner: true }), SYNC);
  assert.equal(report.scanned.replica, 0, "a continuously filtered replica is not scanned");
  assert.deepEqual(report.conflicts, []);
  assert.deepEqual(report.problems, []);
  const seen = manifest(r.dir);
  // Through the mount, a name's link count may be up to attr_timeout (1 s) stale after `ln`: the
  // kernel caches each name's attributes separately (libfuse's high-level API gives every path its
  // own node). Everything else must match exactly.
  const noLinks = (m: ManifestEntry[]): ManifestEntry[] => m.map((e) => ({ ...e, links: [] }));
  assert.deepEqual(noLinks(manifest(r.mnt)), noLinks(seen), "the mount shows the holding location");
  assert.deepEqual(manifest(r.holder), seen, "the replayed journal gives the filtered tree");
  const set = FileSet.open(r.dir);
  try {
    const s = await scan(set);
    assert.equal(s.records, 0, `a scan found ${s.records} change(s) the filter did not journal: ${JSON.stringify(set.cml.all())}`);
  } finally {
    set.close();
  }
  return report;
}
