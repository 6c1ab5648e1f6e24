/**
 * `replicate`: a new replica of a holder's file set in an empty directory (the Coda/AFS user's
 * "cache this volume here"). A full replica is exactly a first sync into an empty tree; a lazy one
 * (`lazy`) gets every name and attribute but leaves file data on the holder: its files are
 * placeholders (`lazy.ts`), fetched on first use through `intermezzo mount`'s upcalls, which reach
 * the holder at the endpoint recorded here.
 */
import fs from "node:fs";
import path from "node:path";
import { ImzError } from "../errors.js";
import { FileSet, META_DIR } from "../journal/fileset.js";
import { HAS_DATA } from "../journal/fsdb.js";
import { parseEndpoint } from "../ssh/remote-path.js";
import { META_HOLDER, META_HOLDER_SSH, META_LAZY, type RecordedSsh } from "./lazy.js";
import type { HolderPeer } from "./peer.js";
import { syncFileSets, type SyncReport } from "./sync.js";

/** Options of {@link replicate}. */
export interface ReplicateOptions {
  /** Names and attributes only; data on first use. */
  lazy: boolean;
  /** Replicate numeric ownership (as root). */
  owner: boolean;
  /** SSH options to record for the mount's upcalls (identity files are made absolute). */
  ssh?: RecordedSsh;
}

/** What {@link replicate} made. */
export interface ReplicateReport {
  sync: SyncReport;
  /** Objects in the new replica, the root excluded. */
  objects: number;
  /** Files left on the holder until first use (lazy only), and their bytes. */
  placeholders: number;
  placeholderBytes: number;
}

/**
 * Refuses a `dir` that exists and is not an empty directory (`NOT_EMPTY`): replicate makes a new
 * replica; an existing tree is merged with `intermezzo-sync` instead. Creates it when missing.
 */
export function prepareReplicaDir(dir: string): void {
  const abs = path.resolve(dir);
  if (fs.existsSync(abs)) {
    if (!fs.statSync(abs).isDirectory()) throw new ImzError("NOT_EMPTY", `${abs} exists and is not a directory`, { hint: "name a new or empty directory" });
    const entries = fs.readdirSync(abs);
    if (entries.length > 0) {
      const what = entries.includes(META_DIR) ? "is already a file set" : "is not empty";
      throw new ImzError("NOT_EMPTY", `${abs} ${what}`, {
        hint: `replicate makes a new replica in an empty directory; to sync an existing tree run 'intermezzo-sync ${dir} SERVER'`,
      });
    }
  }
  fs.mkdirSync(abs, { recursive: true });
}

/**
 * Makes `dir` (new or empty; see {@link prepareReplicaDir}) a replica of the file set held behind
 * `peer`, reached at `holderSpec` (recorded for the mount's upcalls; a local path is made absolute).
 * The peer is closed when done. A run cut short leaves a replica that a later `intermezzo-sync`
 * completes.
 */
export async function replicate(holderSpec: string, dir: string, peer: HolderPeer, opts: ReplicateOptions): Promise<ReplicateReport> {
  let set: FileSet;
  try {
    set = FileSet.init(dir, { role: "replica", filesetId: "" });
  } catch (err) {
    await peer.close().catch(() => undefined);
    throw err;
  }
  try {
    const e = parseEndpoint(holderSpec);
    set.transaction(() => {
      set.setMeta(META_HOLDER, e.kind === "local" ? path.resolve(e.path) : holderSpec);
      set.setMeta(META_LAZY, opts.lazy ? "1" : "0");
      const ssh: RecordedSsh = {
        ...(opts.ssh?.identityFiles?.length ? { identityFiles: opts.ssh.identityFiles.map((f) => path.resolve(f)) } : {}),
        ...(opts.ssh?.remoteCommand !== undefined ? { remoteCommand: opts.ssh.remoteCommand } : {}),
      };
      if (e.kind !== "local" && Object.keys(ssh).length > 0) set.setMeta(META_HOLDER_SSH, JSON.stringify(ssh));
    });
  } finally {
    set.close();
  }
  const sync = await syncFileSets(dir, peer, {
    dryRun: false, mirror: false, maxDeleteFraction: 0.5, force: false, owner: opts.owner, replicaIsSrc: true, rootFrom: "holder",
  });
  set = FileSet.open(dir);
  try {
    const counts = set.db
      .prepare<[], { objects: number; placeholders: number; bytes: number | null }>(
        `SELECT count(*) - 1 AS objects, sum(type = 'f' AND (flags & ${HAS_DATA}) = 0) AS placeholders,
                sum(CASE WHEN type = 'f' AND (flags & ${HAS_DATA}) = 0 THEN size ELSE 0 END) AS bytes FROM objects`,
      )
      .get()!;
    return { sync, objects: counts.objects, placeholders: counts.placeholders, placeholderBytes: counts.bytes ?? 0 };
  } finally {
    set.close();
  }
}
