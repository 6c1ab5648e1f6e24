/**
 * Lento's file server role: the holder's side of attach, reintegration (replay with version checks,
 * backfetch, server log, new stamps), update notification and fetch. It implements
 * {@link HolderPeer} directly, so an in-process sync uses it as it is and the wire protocol
 * serves the same object.
 */
import type { ContentAsk } from "./extents-transfer.js";
import { recoverInPlace } from "./in-place.js";
import path from "node:path";
import { decide, type ServerView } from "../conflict/detect.js";
import { ImzError } from "../errors.js";
import { scan } from "../filter/scanner.js";
import { FileSet } from "../journal/fileset.js";
import type { FsObject } from "../journal/fsdb.js";
import { carriesContent, mapFids, ROOT_FID, type Attrs, type JournalRecord } from "../journal/records.js";
import { xattrsText } from "../journal/xattrs.js";
import { Applier } from "./apply.js";
import type { StagedContent } from "./content-stream.js";
import { ringLog } from "../journal/log-bell.js";
import { holdCallback } from "./callbacks.js";
import { joinPermits, type PermitGrant, type PermitMembership, type PermitOwner } from "./permits.js";
import { acquireWriteLock, withWriteLock } from "../journal/write-lock.js";
import { isWatchedLive, watchHolderTree, whenWatched } from "./holder-watch.js";
import { checkEmptySource } from "./empty-source.js";
import type { AppliedRecord, AttachReply, AttachRequest, ContentSource, HolderPeer, LiveReplica, ObjectsReply, RecordResult, ReintegrateReply, UpdatesReply } from "./peer.js";
import { replayInOrder } from "./pipeline.js";
import { presignBasis, receiveContent, SIGNATURE_OPTIONS, statedContent, wantOf } from "./delta-transfer.js";
import { Batcher, batchable, readBatch, smallContent, type BatchItem, type BatchRequest, type ContentBatch } from "./batch-transfer.js";
import { MAX_PRESIGNED, Presigned } from "./presign.js";
import type { ContentStream } from "./content-stream.js";
import { readContent } from "./transfer.js";
import { withinBytes } from "./page-bytes.js";
import { ConnectionStamps } from "./connection-stamps.js";

/** Options of {@link LentoServer}. */
export interface ServerOptions {
  /** Set numeric ownership when running as root. */
  owner: boolean;
  /** The deadline of a BreakCallback round and of a permit's revoke (ms; default 10 s). */
  callbackTimeoutMs?: number;
  /** The holder's log lines about its live replicas (a lapsed callback, a permit taken back). */
  log?: (line: string) => void;
}

/** Most records returned by one `updates` page. */
export const MAX_PAGE = 2000;

/**
 * A new replica at the place of a registered one: that replica's root has lost its `.intermezzo/`
 * (an unmounted disk and an empty mount point, a wiped directory) while this holder has synced with
 * it. Refused (`NOT_A_FILESET`) unless forced, as a holder root that lost its file set is.
 */
function refuseLostReplica(set: FileSet, where: string): void {
  const was = set.replicas.list().find((r) => r.place === where);
  if (!was) return;
  throw new ImzError("NOT_A_FILESET", `${where} was replica ${was.replica} of this file set and has lost its .intermezzo/`, {
    hint: "check that the right disk is mounted there; rerun with --force to join it again as a new replica",
  });
}

/**
 * Compacts the holder's log below the oldest stamp a live registered replica still needs (see
 * `src/journal/replicas.ts`); a replica left behind revalidates against `objects`.
 */
export function compactLog(set: FileSet): number {
  const needed = set.replicas.needed();
  return needed === undefined ? 0 : set.transaction(() => set.log.compact(needed));
}

/**
 * How exactly the registry keeps a replica's last contact (`replicas.last_sync`, ms): a connection
 * closing within this long of its last registration, with no newer stamp, leaves the row as it is
 * (far below `REPLICA_RETENTION_MS`, the only thing that reads it besides `status`).
 */
const CONTACT_PRECISION_MS = 60_000;

/** Serves one file set to one replica connection (many such objects serve one file set at once). */
export class LentoServer implements HolderPeer {
  private set: FileSet | undefined;
  private applier: Applier | undefined;
  /** The attached replica's id. */
  private replica = "";
  /** The highest stamp the replica is known to have applied (`updates`' since, `close`'s lastSeen). */
  private seenUpTo = 0;
  /** The stamp this connection last registered for the replica, and when (ms): see `close`. */
  private registered = { seen: 0, at: 0 };
  /** Stops update notification (`watch`). */
  private unwatch: (() => Promise<void>) | undefined;
  /** This connection's part in the permit table, and itself as a permit owner (after `watch`). */
  private permits: { table: PermitMembership; owner: PermitOwner } | undefined;
  /** A dry run's write lock, held until close. */
  private dryRelease: (() => void) | undefined;
  private dryRun = false;
  /** Replica fids mapped to the holder's fids of identical objects, for this connection. */
  private readonly fidMap = new Map<string, string>();
  private readonly fidUnmap = new Map<string, string>();
  /**
   * The stamps this connection gave, read back from the log for a baseline (the version an object
   * had before this connection changed it, which stands only while the object still has the
   * version this connection gave it): its memory follows the batches, not the objects changed.
   */
  private stamps: ConnectionStamps | undefined;
  /** Bases signed ahead on the replica's word (`presign`). */
  readonly presigned = new Presigned(SIGNATURE_OPTIONS);

  constructor(
    private readonly root: string,
    private readonly opts: ServerOptions,
  ) {}

  async attach(req: AttachRequest): Promise<AttachReply> {
    if (this.set) throw new ImzError("USAGE", "attach called twice");
    const arrived = Date.now();
    if (req.expectHolder && !req.scan.force && !FileSet.exists(this.root)) {
      throw new ImzError("NOT_A_FILESET", `${this.root} is not a file set (any more), but this replica has synced with a holder before`, {
        hint: "check the path and that the right disk is mounted there; rerun with --force to start a new file set there from the replica",
      });
    }
    if (req.guard) checkEmptySource(this.root, req.guard);
    // Made under the write lock: several replicas may reach a new holder at once (a cron fan-out).
    const set = FileSet.exists(this.root)
      ? FileSet.open(this.root)
      : await withWriteLock({ root: path.resolve(this.root) }, () =>
          FileSet.exists(this.root) ? FileSet.open(this.root) : FileSet.init(this.root, { role: "holder", ...(req.filesetId ? { filesetId: req.filesetId } : {}) }),
        );
    try {
      if (set.role !== "holder") {
        throw new ImzError("FILESET_MISMATCH", `${this.root} is a replica, not the holder of its file set`, {
          hint: "sync with the host that holds the file set, or swap the arguments",
        });
      }
      if (req.filesetId !== null && req.filesetId !== set.filesetId) {
        throw new ImzError("FILESET_MISMATCH", `${this.root} holds file set ${set.filesetId}, the replica belongs to ${req.filesetId}`, {
          hint: "these trees belong to different file sets; sync each with its own holder",
        });
      }
      if (req.filesetId === null && req.where && !req.scan.force) refuseLostReplica(set, req.where);
      set.cleanTemp();
      recoverInPlace(set);
    } catch (err) {
      set.close();
      throw err;
    }
    this.set = set;
    this.replica = req.replica;
    this.applier = new Applier(set, { owner: this.opts.owner });
    this.stamps = new ConnectionStamps(set);
    this.dryRun = req.dryRun;
    let scanned: AttachReply["scanned"] = { records: 0, problems: [] };
    let scanStarted: number | undefined;
    const scanHolder = async (): Promise<void> => {
      // A scan that started after this attach arrived has journaled everything this one would.
      if (!req.scan.scan || set.isContinuouslyFiltered() || isWatchedLive(set.root) || Number(set.metaOr("scan_started", "0")) >= arrived) return;
      const started = Date.now();
      const r = await scan(set, { maxDeleteFraction: req.scan.maxDeleteFraction, force: req.scan.force });
      scanned = { records: r.records, problems: r.problems };
      scanStarted = started;
    };
    if (this.dryRun) {
      // A dry run journals into a transaction it rolls back at close: it writes for the whole connection.
      this.dryRelease = await acquireWriteLock(set);
      set.db.exec("BEGIN");
      await scanHolder();
    } else {
      await withWriteLock(set, async () => {
        await scanHolder();
        // one commit for both (a no-change sync's only write here)
        const now = Date.now();
        set.transaction(() => {
          if (scanStarted !== undefined) set.setMeta("scan_started", String(scanStarted));
          set.replicas.touch(req.replica, req.where ?? "", req.lastSeen ?? 0, now);
        });
        this.registered = { seen: req.lastSeen ?? 0, at: now };
      });
      if (scanned.records > 0) ringLog(set.root, set.log.head());
    }
    return { filesetId: set.filesetId, holder: set.replicaId, name: set.name, volume: set.log.head(), scanned, empty: !set.fsdb.hasChildren(ROOT_FID) };
  }

  async applied(replica: string, fromSeq: number): Promise<AppliedRecord[]> {
    return this.open().log.appliedFrom(replica, fromSeq).map((l) => ({ originSeq: l.record.originSeq, fid: l.record.fid, version: l.version }));
  }

  async reintegrate(records: JournalRecord[], source: ContentSource, keep?: string, batch?: BatchRequest): Promise<ReintegrateReply> {
    const set = this.open();
    if (this.dryRun) throw new ImzError("USAGE", "reintegrate during a dry run");
    const applier = this.applier!;
    const results: RecordResult[] = [];
    const view = this.view();
    const batcher = batch && new Batcher(applier.holding, batch);
    // The holder's basis is its own version of the (translated) fid; the replica is asked by the fid
    // the record arrived with. Not by a mapping kept for the connection: a replica takes the
    // holder's fid of an adopted object as soon as the batch is settled, so a later record of the
    // same connection (a live replica's next exchange) names it by that fid, and the old one is
    // gone there (churn seed 1353109498: RECORD_INVALID on every exchange).
    const fetchAs = (asked: string) => (r: JournalRecord): Promise<StagedContent> => {
      const want = wantOf(r);
      const alone = (): Promise<StagedContent> => receiveContent(applier.holding, want, (signature) => source(asked, signature), { presigned: this.presigned });
      return batcher && batchable(applier.holding, want) ? batcher.fetch({ fid: asked }, alone) : alone();
    };
    // One writer at a time, for one batch (other replicas' reads go on meanwhile).
    return withWriteLock(set, async () => {
      this.registerSeen(set);
      const before = set.log.head();
      set.startGroup(false);
    try {
      // Translate as late as possible: an identical directory adopted by an earlier record of this
      // batch renames the parent of the records after it.
      await replayInOrder(records, {
        prefetch: (raw) => {
          const r = this.translate(raw);
          return carriesContent(r) && decide(view, r).kind === "apply" ? fetchAs(raw.fid)(r) : undefined;
        },
        batched: (raw) => batcher !== undefined && smallContent(statedContent(raw)?.size),
        bytes: (raw) => statedContent(raw)?.size ?? 0,
        step: async (raw, staged) => {
          results.push(await this.replayOne(this.translate(raw), view, staged, fetchAs(raw.fid), keep));
        },
      });
      await applier.finishBatch();
    } catch (err) {
      applier.abortBatch();
      this.stamps!.forgetAfter(before);
      throw err;
    }
    set.endGroup();
    ringLog(set.root, set.log.head());
    return { results, volume: set.log.head() };
    });
  }

  async watch(live: LiveReplica): Promise<void> {
    const set = this.open();
    if (this.dryRun) throw new ImzError("USAGE", "watch during a dry run");
    if (this.unwatch) throw new ImzError("USAGE", "watch called twice");
    const opts = { timeoutMs: this.opts.callbackTimeoutMs, log: this.opts.log };
    const dropCallback = holdCallback(set.root, this.replica, set.log.head(), (b) => live.breakCallback({ ...b, fids: b.fids.flatMap((f) => this.replicaNames(f)) }), opts);
    const leaveTree = watchHolderTree(set.root, () => undefined);
    const owner: PermitOwner = { replica: this.replica, revoke: (fids) => live.revoke(fids.flatMap((f) => this.replicaNames(f))) };
    const permits = joinPermits(set.root, opts);
    this.permits = { table: permits, owner };
    this.unwatch = async () => {
      this.permits = undefined;
      permits.leave(owner);
      dropCallback();
      await leaveTree();
    };
    await whenWatched(set.root);
  }

  async permit(fids: string[]): Promise<PermitGrant> {
    const set = this.open();
    if (!this.permits) throw new ImzError("USAGE", "permit before watch", { hint: "a permit is for a replica attached live (watch); nothing was done" });
    const { table: { acquire }, owner } = this.permits;
    if (!acquire) return { granted: false, volume: set.log.head() };
    await acquire(fids.map((f) => this.fidMap.get(f) ?? f), owner);
    return { granted: true, volume: set.log.head() };
  }

  async updates(since: number, limit: number): Promise<UpdatesReply> {
    const set = this.open();
    // the replica has applied the log up to `since`: registered at the next write (a read never
    // writes, so it never waits for another process's write transaction)
    this.seenUpTo = Math.max(this.seenUpTo, since);
    const volume = set.log.head();
    if (since < set.log.floor()) return { records: [], volume, more: false, compacted: true };
    const page = Math.min(Math.max(limit, 1), MAX_PAGE);
    const read = set.log.since(since, page);
    const records = withinBytes(read);
    return { records, volume, more: records.length < read.length || read.length === page };
  }

  async objects(after: string, limit: number): Promise<ObjectsReply> {
    const set = this.open();
    const page = Math.min(Math.max(limit, 1), MAX_PAGE);
    // read in one transaction: the page and its volume stamp agree
    return set.db.transaction(() => {
      const read = set.fsdb.after(after, page);
      const objects = withinBytes(read);
      return { objects, volume: set.log.head(), more: objects.length < read.length || read.length === page };
    })();
  }

  fetch(fid: string, ask?: ContentAsk, hash?: string): ContentStream {
    return readContent(this.applier!.holding, this.served(fid, hash), ask);
  }

  fetchBatch(items: BatchItem[]): ContentBatch {
    return readBatch(this.applier!.holding, items, (i) => this.served(i.fid, i.hash));
  }

  /** The object whose content a fetch of `fid` gets: `fid`, or when it is gone another with content `hash`. */
  private served(fid: string, hash?: string): string {
    const fsdb = this.open().fsdb;
    const other = hash && !fsdb.get(fid) ? fsdb.byHash(hash) : undefined;
    return other?.fid ?? fid;
  }

  async presign(fids: string[]): Promise<void> {
    this.open();
    if (this.dryRun) return;
    for (const f of fids.slice(0, MAX_PRESIGNED)) presignBasis(this.applier!.holding, this.fidMap.get(f) ?? f, this.presigned);
  }

  async getattr(fids: string[]): Promise<Array<FsObject | null>> {
    const fsdb = this.open().fsdb;
    return fids.map((f) => fsdb.get(this.fidMap.get(f) ?? f) ?? null);
  }

  async close(lastSeen?: number): Promise<void> {
    const set = this.set;
    if (!set) return;
    this.seenUpTo = Math.max(this.seenUpTo, lastSeen ?? 0);
    this.set = undefined;
    await this.presigned.settle();
    await this.unwatch?.();
    this.unwatch = undefined;
    try {
      if (this.dryRun && set.db.inTransaction) set.db.exec("ROLLBACK");
      if (!this.dryRun) {
        await withWriteLock(set, () => {
          // A replica that applied nothing new since this connection registered it a moment ago
          // is not registered again: its row would change only its last contact, by milliseconds.
          if (this.seenUpTo > this.registered.seen || Date.now() - this.registered.at >= CONTACT_PRECISION_MS) this.registerSeen(set);
          compactLog(set);
        });
      }
    } finally {
      this.dryRelease?.();
      set.close();
    }
  }

  wireBytes(): { sent: number; received: number } {
    return { sent: 0, received: 0 };
  }

  private async replayOne(
    r: JournalRecord,
    view: ServerView,
    staged: Promise<StagedContent> | undefined,
    fetch: (r: JournalRecord) => Promise<StagedContent>,
    keep: string | undefined,
  ): Promise<RecordResult> {
    const set = this.set!;
    const seq = r.seq;
    const prior = set.log.appliedFrom(r.origin, r.originSeq)[0];
    if (prior && prior.record.originSeq === r.originSeq) return { seq, status: "applied", fid: prior.record.fid, version: prior.version };
    const d = decide(view, r);
    switch (d.kind) {
      case "identical": {
        if (d.fid !== r.fid) {
          const own = this.clientFid(r.fid);
          this.fidMap.set(own, d.fid);
          this.fidUnmap.set(d.fid, own);
          // a permit the replica asked by its own fid before shipping the object is this one's now
          if (this.permits) this.permits.table.adopted?.(own, d.fid, this.permits.owner);
        }
        // The same object on both sides; its attributes may still differ (a directory or file made
        // on each side at different times): the replica's record wins, as a setattr everyone learns.
        const adopt = attrsToAdopt(r, set.fsdb.get(d.fid));
        if (!adopt) return { seq, status: "identical", fid: d.fid, version: d.version };
        const setattr: JournalRecord = { op: "setattr", fid: d.fid, base: d.version, attrs: adopt, seq: r.seq, origin: r.origin, originSeq: r.originSeq, time: r.time };
        return this.applyAndLog(setattr, undefined, fetch, keep);
      }
      case "conflict": {
        const out: RecordResult = { seq, status: "conflict", conflict: d.conflict, detail: d.detail };
        if (d.serverFid !== undefined) out.fid = d.serverFid;
        if (d.serverVersion !== undefined) out.version = d.serverVersion;
        return out;
      }
      case "apply":
        return this.applyAndLog(r, staged, fetch, keep);
    }
  }

  /** Applies an accepted record to the holding location and logs it with its new stamp. */
  private async applyAndLog(
    r: JournalRecord,
    staged: Promise<StagedContent> | undefined,
    fetch: (r: JournalRecord) => Promise<StagedContent>,
    keep: string | undefined,
  ): Promise<RecordResult> {
    const set = this.set!;
    try {
      const content = carriesContent(r) ? await (staged ?? fetch(r)) : undefined;
      const commit = await this.applier!.apply(r, content, keep);
      // applied all the same (extended attributes this filesystem refused): the replica reports it
      const warned = this.applier!.takeWarnings();
      const detail = warned.length > 0 ? { detail: warned.map((w) => `${w.code}: ${w.message}`).join("; ") } : {};
      const logged = set.transaction(() => {
        const l = set.log.append(received(replacing(set, r), content), (v) => `${set.replicaId}:${v}`);
        commit(l.version);
        return l;
      });
      this.stamps!.logged(logged.record.seq);
      return { seq: r.seq, status: "applied", fid: r.fid, version: logged.version, ...detail };
    } catch (err) {
      this.applier!.takeWarnings();
      const e = err as Error & { code?: string };
      const code = e.code ?? "IO";
      // Node's own messages already start with their code ("EPERM: operation not permitted, …")
      return { seq: r.seq, status: "failed", detail: e.message.startsWith(`${code}:`) ? e.message : `${code}: ${e.message}` };
    }
  }

  /** Registers how far the replica has applied the log (under the write lock). */
  private registerSeen(set: FileSet): void {
    if (this.seenUpTo <= 0) return;
    const now = Date.now();
    set.replicas.seen(this.replica, this.seenUpTo, now);
    this.registered = { seen: Math.max(this.registered.seen, this.seenUpTo), at: now };
  }

  private view(): ServerView {
    const fsdb = this.set!.fsdb;
    const stamps = this.stamps!;
    return {
      get: (fid) => fsdb.get(fid),
      typeOf: (fid) => fsdb.typeOf(fid),
      child: (parent, name) => fsdb.child(parent, name),
      hasChildren: (fid) => fsdb.hasChildren(fid),
      baseline: (fid) => stamps.baseline(fid, fsdb.versionOf(fid) ?? ""),
    };
  }

  /** Rewrites a replica's fids of adopted objects to the holder's. */
  private translate(r: JournalRecord): JournalRecord {
    return this.fidMap.size === 0 ? r : mapFids(r, (f) => this.fidMap.get(f) ?? f);
  }

  /**
   * The names this connection's replica may know an object by, for a break or a revoke: the holder's
   * fid, which a replica names an object adopted as the holder's by once it has settled that (and
   * asks its permit by), and the replica's former fid for one adopted on this connection, which it
   * names it by until then. Before, only the former was sent after an adoption, and a revoke left
   * the permit held on the replica.
   */
  private replicaNames(fid: string): string[] {
    const own = this.fidUnmap.get(fid);
    return own === undefined ? [fid] : [fid, own];
  }

  /** The replica's own fid for a (possibly translated) fid, to ask it for content. */
  private clientFid(fid: string): string {
    return this.fidUnmap.get(fid) ?? fid;
  }

  private open(): FileSet {
    if (!this.set) throw new ImzError("USAGE", "attach must come first");
    return this.set;
  }
}

/**
 * The record as the holder took it in: a close or create whose content arrived other than stated
 * (the replica's file changed between its scan and the send; its next scan journals that change,
 * which then holds here) is logged with the content received, written extents dropped. Others take
 * the logged version in, and may make it from a local file of the same content without a transfer:
 * the stated one would give them content the holder does not have (churn seed 877284262).
 */
function received(r: JournalRecord, content: StagedContent | undefined): JournalRecord {
  // a hash stated as unknown ("": hashed as it is sent) is not a content stated otherwise
  if (!content || (r.op !== "close" && r.op !== "create") || !r.content || r.content.hash === "") return r;
  const c = content.content;
  if (c.hash === r.content.hash && c.size === r.content.size) return r;
  const { extents: _stale, ...rest } = r as JournalRecord & { extents?: unknown };
  return { ...rest, content: c } as JournalRecord;
}

/**
 * The record as the server log keeps it: its bases are the versions it replaced here. A replica's
 * record carries the version its object had before the replica's whole batch (every record of one
 * object in one reintegration has the same base), so a rename then a close of one file would reach
 * other replicas with the close based on the version before the rename; they apply the log in
 * order and check each record against the state the previous one left.
 */
function replacing(set: FileSet, r: JournalRecord): JournalRecord {
  const version = (fid: string): string => set.fsdb.get(fid)?.version ?? "";
  let out = r;
  if ("base" in r) out = { ...out, base: version(r.fid) } as JournalRecord;
  if (r.op === "rename" && r.replaced !== undefined && r.replacedBase !== undefined) out = { ...out, replacedBase: version(r.replaced) } as JournalRecord;
  return out;
}

/**
 * The attributes a placement record would give an object the holder already has identically, where
 * they differ from the holder's (undefined when they agree, or for other records).
 */
function attrsToAdopt(r: JournalRecord, o: FsObject | undefined): Attrs | undefined {
  if (!o || (r.op !== "create" && r.op !== "mkdir" && r.op !== "symlink" && r.op !== "mknod")) return undefined;
  const want: Attrs = { ...r.attrs, ...(r.op === "create" && r.content ? { mtimeNs: r.content.mtimeNs } : {}) };
  const out: Attrs = {};
  if (o.type !== "l" && want.mode !== undefined && want.mode !== o.mode) out.mode = want.mode;
  if (want.uid !== undefined && want.uid !== o.uid) out.uid = want.uid;
  if (want.gid !== undefined && want.gid !== o.gid) out.gid = want.gid;
  if (want.mtimeNs !== undefined && want.mtimeNs !== o.mtimeNs) out.mtimeNs = want.mtimeNs;
  if (want.xattrs !== undefined && xattrsText(want.xattrs) !== o.xattrs) out.xattrs = want.xattrs;
  return Object.keys(out).length > 0 ? out : undefined;
}

