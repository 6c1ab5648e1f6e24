/**
 * One sync between two file sets (the job `intermezzo-sync` runs from cron): decide roles, scan
 * what no filter journaled, attach to the holder, reintegrate the replica's CML, apply the holder's
 * updates, and report. The holder is reached through a {@link HolderPeer}, so the same steps run
 * in-process, over a stdio child, or over SSH.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ImzError } from "../errors.js";
import type { ScanReport } from "../filter/scan-record.js";
import { scan } from "../filter/scanner.js";
import { FileSet, META_DIR } from "../journal/fileset.js";
import { Journal } from "../journal/journal.js";
import { ROOT_FID, type Attrs } from "../journal/records.js";
import { configRules, DEFAULT_KEEP_COPIES, readConfig } from "../conflict/config.js";
import { parseRules } from "../conflict/policy.js";
import { applyUpdates, newTally, type SyncTally } from "./client.js";
import { DELTA_MIN, HASH_AT_SEND_MIN } from "./delta-transfer.js";
import { MAX_PRESIGNED } from "./presign.js";
import { itemize } from "./itemize.js";
import { mirrorRevert } from "./mirror.js";
import { treeIsEmpty } from "./empty-source.js";
import type { AttachRequest, EmptyGuard, HolderPeer } from "./peer.js";
import { revalidate } from "./revalidate.js";
import { adoptIdentical, revertLocalChanges } from "./revert.js";
import { reintegrateResolving, restoreFromHolder, type ResolveOptions } from "./resolution.js";
import { recoverAsides } from "./settle-intent.js";
import { recoverInPlace } from "./in-place.js";
import { forgetUnapplied, noteUnapplied, unapplied } from "./unapplied.js";
import { hashUnknownCreates } from "./transfer.js";

const NO_SCAN: ScanReport = { records: 0, examined: 0, hashedBytes: 0, problems: [] };

/** Options of {@link syncFileSets}. */
export interface SyncOptions {
  dryRun: boolean;
  maxDeleteFraction: number;
  force: boolean;
  owner: boolean;
  /** Make the holder an exact copy of the replica (SRC); holder-side changes are reverted and kept. */
  mirror: boolean;
  /** Receives the live tally once, at the start (for a progress display). */
  onTally?: (tally: SyncTally) => void;
  /** Which argument is the replica; the other is reached through `peer`. */
  replicaIsSrc: boolean;
  /** `--policy` values (a policy name, or `GLOB=NAME`), over the replica's config and the mode's default. */
  policies?: string[];
  /** On a union, whose root attributes both roots take: SRC's (the default) or the holder's (`replicate`). */
  rootFrom?: "src" | "holder";
  /** False (`--no-specials`): this run's scan skips special files and the holder's are not made here. */
  specials?: boolean;
  /** False (`--no-xattrs`): this run's scan leaves extended attributes and ACLs out and the holder's are not applied here. */
  xattrs?: boolean;
  /** Records of the CML optimised and shipped at once (tests make it small; default `reintegration.ts`'s `WINDOW`). */
  cmlWindow?: number;
}

/** What a sync did (the `--json` summary). */
export interface SyncReport extends SyncTally {
  holder: "src" | "dest";
  scanned: { replica: number; holder: number };
  wire: { sent: number; received: number };
  durationMs: number;
  /** Dry run only: the changes it would make, one line each, rsync `-i` style. */
  itemized?: string[];
}

/**
 * Syncs the replica at `replicaRoot` with the holder behind `connecting`. Creates the replica on
 * first use; re-joins it (rescanning everything as new, so the trees are unioned) if its holder
 * changed. The holder may still be connecting (a child starting, an SSH handshake): the replica
 * scans its tree meanwhile, and the holder scans its own as soon as it is attached. A replica this
 * call created is removed again (its `.intermezzo/` only) if the holder cannot be reached.
 */
export async function syncFileSets(replicaRoot: string, connecting: HolderPeer | Promise<HolderPeer>, opts: SyncOptions): Promise<SyncReport> {
  const started = Date.now();
  const connected = Promise.resolve(connecting);
  connected.catch(() => undefined);
  let set: FileSet | undefined;
  let release: (() => void) | undefined;
  let created = false;
  let attached = false;
  try {
    created = !FileSet.exists(replicaRoot);
    set = created ? FileSet.init(replicaRoot, { role: "replica", filesetId: "" }) : FileSet.open(replicaRoot);
    if (set.role !== "replica") {
      throw new ImzError("FILESET_MISMATCH", `${replicaRoot} is a holder too; two holders cannot sync`, {
        hint: "each file set has one holder; sync a replica with it",
      });
    }
    release = set.lock("sync");
    set.cleanTemp();
    recoverInPlace(set); // a file a killed run changed in place without recording it gets its old bytes back
    recoverAsides(set); // a conflict copy a killed run moved aside without recording it goes back first
    const resolve = resolveOptions(replicaRoot, opts);
    const request = attachRequest(set, opts);
    const { guard } = request;
    const replicaEmpty = guard?.replicaEmpty ?? false;
    const attaching = connected.then((peer) => peer.attach(request));
    attaching.catch(() => undefined);
    if (opts.dryRun) set.db.exec("BEGIN");
    // The holder scans its tree while this side scans its own (on another core when it runs in
    // another process). A big file about to be hashed is about to be sent: the holder signs its
    // version meanwhile (no more hints than the holder keeps signatures).
    let hints = 0;
    const presign = (fid: string, size: number): void => {
      if (size < DELTA_MIN || opts.dryRun || hints++ >= MAX_PRESIGNED) return;
      void attaching.then(() => connected).then((peer) => peer.presign([fid])).catch(() => undefined);
    };
    // A large new file is hashed as it is sent when the holder's tree is empty (nothing to adopt
    // it as): the scan waits for the attach's answer when it finds the first one.
    const newHashedAtSend = (): Promise<boolean> => attaching.then((a) => a.empty === true);
    const scanOpts = { maxDeleteFraction: opts.maxDeleteFraction, force: opts.force, onContentChange: presign, hashAtSendFrom: HASH_AT_SEND_MIN, newHashedAtSend, specials: opts.specials, xattrs: opts.xattrs };
    const scanReplica = (): Promise<ScanReport> => (set!.isContinuouslyFiltered() ? Promise.resolve(NO_SCAN) : scan(set!, scanOpts));
    // An empty SRC replica may be refused (EMPTY_SOURCE): the holder says so before this side
    // journals its emptiness (a scan would record every file as deleted).
    if (guard && opts.replicaIsSrc && replicaEmpty) await attaching;
    // both settle before anything else happens: the scan uses the database until it is done
    const [scanning, attachment] = await Promise.allSettled([scanReplica(), attaching]);
    if (attachment.status === "rejected") throw attachment.reason;
    if (scanning.status === "rejected") throw scanning.reason;
    const peer = await connected;
    const attach = attachment.value;
    attached = true;
    let scanned = scanning.value;
    const joining = set.meta("holder_replica") !== attach.holder;
    if (set.meta("holder_replica") === "") {
      // A replica joining for the first time: nothing of it was ever stamped, so the scan just
      // made is what a rejoin would rescan (a first copy hashes its tree once, not twice).
      set.transaction(() => {
        set!.setMeta("fileset_id", attach.filesetId);
        set!.setMeta("holder_replica", attach.holder);
      });
    } else if (joining) {
      rejoin(set, attach.filesetId, attach.holder);
      scanned = await scanReplica();
    }
    if (joining) uniteRoots(set, opts);
    const tally = newTally();
    tally.problems.push(...scanned.problems, ...attach.scanned.problems.map((p) => ({ ...p, path: `${opts.replicaIsSrc ? "dest" : "src"}:${p.path}` })));
    const report: SyncReport = {
      ...tally,
      holder: opts.replicaIsSrc ? "dest" : "src",
      scanned: { replica: scanned.records, holder: attach.scanned.records },
      wire: { sent: 0, received: 0 },
      durationMs: 0,
    };
    opts.onTally?.(report);
    if (opts.dryRun) {
      const updates = await peer.updates(Number(set.meta("last_seen")), 1_000_000);
      report.itemized = itemize(set, set.cml.all(), updates.records, opts.replicaIsSrc);
      set.db.exec("ROLLBACK");
    } else {
      await exchange(set, peer, report, opts, resolve, joining, false, attach.empty === true);
    }
    report.wire = peer.wireBytes();
    report.durationMs = Date.now() - started;
    return report;
  } finally {
    const lastSeen = attached && set?.db.open && !opts.dryRun ? Number(set.meta("last_seen")) : undefined;
    await connected.then((peer) => peer.close(lastSeen)).catch(() => undefined);
    if (set?.db.open && set.db.inTransaction) set.db.exec("ROLLBACK");
    release?.();
    set?.close();
    if (created && !attached && set !== undefined) fs.rmSync(path.join(replicaRoot, META_DIR), { recursive: true, force: true });
  }
}

/** The replica's `attach` request: who it is, where, how far it got, and the empty-source guard's facts. */
export function attachRequest(set: FileSet, opts: SyncOptions): AttachRequest {
  const replicaSynced = set.meta("holder_replica") !== "";
  const guard: EmptyGuard | undefined = opts.force
    ? undefined
    : { source: opts.replicaIsSrc ? "replica" : "holder", mirror: opts.mirror, replicaEmpty: treeIsEmpty(set.root), replicaSynced };
  return {
    replica: set.replicaId,
    filesetId: set.filesetId === "" ? null : set.filesetId,
    expectHolder: replicaSynced,
    scan: { scan: true, maxDeleteFraction: opts.maxDeleteFraction, force: opts.force },
    dryRun: opts.dryRun,
    lastSeen: Number(set.meta("last_seen")),
    where: `${os.hostname()}:${set.root}`,
    ...(guard ? { guard } : {}),
  };
}

/** Meta key: set while an exchange runs, cleared when it completes (see {@link exchange}). */
const EXCHANGE_OPEN = "exchange_open";

/**
 * One exchange with an attached holder (what every sync does after its scans, and a live replica
 * after each batch of changes or notification): the replica's CML goes to the holder — reintegrated
 * with its conflicts settled by policy, or, for a mirror its holder keeps, reverted — and the
 * holder's log comes back (update notification, or revalidation when the log was compacted).
 * `joining`: the replica has just joined this holder. `holderEmpty`: the holder's tree was empty
 * at attach, so a create left unhashed for its send may go unhashed (`hashUnknownCreates`).
 *
 * An exchange that did not complete — the process killed, or the connection cut, while applying
 * the holder's records (their disk changes are made before the group that records them commits) —
 * may have left this replica's tree and Fsdb apart in ways the log cannot bring back: the next
 * scan takes Lento's half-done work for the user's, and rows the holder's later records build on
 * are missing. The next exchange therefore ends by revalidating (`revalidate.ts`): a listing of
 * the holder's Fsdb, content only where it differs. Found by the churn test, whose replicas killed
 * several times ended live with trees the log never repaired. `revalidating`: revalidate anyway
 * (a live replica gone quiet after an exchange that met conflicts or problems, `attachment.ts`).
 *
 * The mark is written before the exchange can change anything, and only then: an exchange with
 * nothing of its own to send or settle (an empty CML, nothing unapplied, not joining, not
 * revalidating, not pushing a mirror) marks itself when the holder's log turns out to have records
 * for it (before the first is applied) or to be compacted (before revalidating). A no-change sync
 * thus writes nothing to the replica's database (and its close has nothing to checkpoint).
 */
export async function exchange(set: FileSet, peer: HolderPeer, report: SyncTally, opts: SyncOptions, resolve: ResolveOptions, joining: boolean, revalidating = false, holderEmpty = false): Promise<void> {
  if (!holderEmpty) await hashUnknownCreates(set);
  const interrupted = set.metaOr(EXCHANGE_OPEN, "") !== "";
  let marked = false;
  const markOpen = (): void => {
    if (marked) return;
    set.transaction(() => set.setMeta(EXCHANGE_OPEN, new Date().toISOString()));
    marked = true;
  };
  const quiet = !interrupted && !revalidating && !joining && !(opts.mirror && opts.replicaIsSrc) && set.cml.first() === undefined && unapplied(set).length === 0;
  if (!quiet) markOpen();
  await exchangeOnce(set, peer, report, opts, resolve, joining, interrupted || revalidating, markOpen);
  if (marked) set.transaction(() => set.setMeta(EXCHANGE_OPEN, ""));
}

/** The exchange's steps; `markOpen` marks it open (see {@link exchange}) before anything is applied. */
async function exchangeOnce(set: FileSet, peer: HolderPeer, report: SyncTally, opts: SyncOptions, resolve: ResolveOptions, joining: boolean, revalidating: boolean, markOpen: () => void): Promise<void> {
  if (opts.mirror && opts.replicaIsSrc) {
    // SRC is a replica: its state is pushed over the holder's
    const settling = await reintegrateResolving(set, peer, report, resolve);
    await mirrorRevert(set, peer, report, opts.owner);
    await restoreFromHolder(set, peer, report, settling, opts.owner, true);
    return; // the master's tree is the truth here: nothing to revalidate it against
  }
  // two-way, or a mirror kept by its holder (SRC holds): this replica's own changes are reverted
  const adopted = opts.mirror && joining ? await adoptIdentical(set, peer) : new Set<string>();
  const settling = opts.mirror ? await revertLocalChanges(set, peer, report) : await reintegrateResolving(set, peer, report, resolve);
  for (const fid of adopted) settling.add(fid);
  for (const fid of unapplied(set)) settling.add(fid);
  await restoreFromHolder(set, peer, report, settling, opts.owner, false);
  const caughtUp = await applyUpdates(set, peer, report, opts.owner, settling, opts.specials === false, opts.xattrs !== false, markOpen);
  if (!caughtUp || revalidating) {
    markOpen();
    await revalidateAfter(set, peer, report, opts, settling);
  }
  await restoreFromHolder(set, peer, report, settling, opts.owner, true);
}

/** Revalidates against the holder's listing, then applies the log after the stamp it reflects. */
async function revalidateAfter(set: FileSet, peer: HolderPeer, report: SyncTally, opts: SyncOptions, settling: Set<string>): Promise<void> {
  const volume = await revalidate(set, peer, report, opts.owner);
  set.transaction(() => set.setMeta("last_seen", String(Math.max(volume, Number(set.meta("last_seen"))))));
  await applyUpdates(set, peer, report, opts.owner, settling, opts.specials === false, opts.xattrs !== false);
}

/** The conflict settlement options of a replica: `--policy` over its config over the mode's default. */
export function resolveOptions(root: string, opts: SyncOptions): ResolveOptions {
  const config = readConfig(root);
  return {
    rules: parseRules(opts.policies ?? [], configRules(config, opts.mirror ? "client" : "both")),
    owner: opts.owner,
    keepCopies: config.keepCopies ?? DEFAULT_KEEP_COPIES,
    ...(opts.cmlWindow !== undefined ? { window: opts.cmlWindow } : {}),
  };
}

/**
 * A union (a first join, or a re-join) finds the two roots with their own attributes and no record
 * of either. Like any directory the union finds on both sides, they end with SRC's, as rsync's `-a`
 * gives DEST the source directory's: a replica that is SRC journals its root's mode (and owner),
 * otherwise the root is listed to be brought to the holder's state (`unapplied.ts`, which survives
 * a run cut short). `replicate`'s new, empty replica always takes the holder's.
 */
function uniteRoots(set: FileSet, opts: SyncOptions): void {
  if (opts.rootFrom === "holder" || !opts.replicaIsSrc) return noteUnapplied(set, ROOT_FID);
  const root = set.fsdb.must(ROOT_FID);
  const attrs: Attrs = opts.owner ? { mode: root.mode, uid: root.uid, gid: root.gid } : { mode: root.mode };
  new Journal(set).record({ op: "setattr", fid: ROOT_FID, time: Date.now(), base: root.version, attrs }, () => undefined);
}

/**
 * Joins the replica to a (new) holder: forgets every stamp and pending record, so the next scan
 * journals the whole tree as new and reintegration unions it with the holder's (identical objects
 * are adopted, different ones conflict; nothing is overwritten).
 */
function rejoin(set: FileSet, filesetId: string, holder: string): void {
  set.transaction(() => {
    set.setMeta("fileset_id", filesetId);
    set.setMeta("holder_replica", holder);
    set.setMeta("last_seen", "0");
    set.db.prepare(`DELETE FROM cml`).run();
    forgetUnapplied(set);
    set.db.prepare(`DELETE FROM objects WHERE fid != ?`).run(ROOT_FID);
    const root = set.fsdb.must(ROOT_FID);
    set.fsdb.put({ ...root, version: "" });
  });
}
