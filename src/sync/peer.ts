/**
 * The Lento peer interface: what a replica asks of its file set's holder. One interface, served
 * in-process, over a stdio child, over SSH and by Lento's listener; one contract suite runs on all.
 *
 * Contract, in the order a sync uses it:
 * 1. `attach` first, once. The holder registers the replica, scans its tree unless a filter journals
 *    it (or a scan started after this attach arrived has just covered it), and says which file set
 *    it holds and its volume stamp. Nothing else may be called before it.
 * 2. `applied` tells which of this replica's records the holder already accepted (a reply lost to a
 *    dropped connection); the replica settles those before shipping anything.
 * 3. `reintegrate` ships records in CML order (any number of batches). The holder replays each with
 *    version checks, backfetches content through `source`, and answers one result per record, in
 *    order. A conflicting record is reported and changes nothing on the holder.
 * 4. `updates` returns the server log after a volume stamp, in order, in pages.
 * 5. `fetch` streams an object's current content: with a `signature` of the caller's basis, as an
 *    `rdiff` delta against it; without one, whole. `done` settles with the full content's description
 *    (size, mtime, whole-file hash), which the caller checks after patching. Backfetch (`source`)
 *    follows the same rule in the other direction.
 * 6. `getattr` returns the holder's current object for each fid (null where it has none): what a
 *    replica resolving a conflict compares its own version with.
 * 7. `presign` (any time after `attach`) is a hint: the replica will soon send new content for these
 *    objects. The holder may sign its current versions in the background so that the backfetch finds
 *    the signature made; it answers at once, and ignoring the hint is correct.
 * 8. `close` ends the attachment. After an error the peer is unusable; the journal on both
 *    sides is consistent and a new run continues from it.
 * 9. `objects` pages through the holder's current objects (its Fsdb), for a replica whose last-seen
 *    stamp is older than the compacted log (`updates` says `compacted`): the paper's fallback when
 *    volume stamps do not match, revalidating object by object.
 *
 * 10. `watch` (a live replica, after `attach`): the replica holds a callback on the file set until
 *    `close`. Each time the holder's log grows — from another replica's reintegration, or from its
 *    own tree, which it then journals live — the holder breaks it (`BreakCallback`, a multi-RPC over
 *    all its live replicas, see `callbacks.ts`) with the log's new stamp; the replica answers once it
 *    has applied the log up to it. Breaks are coalesced: one in flight per replica.
 * 11. `permit` (a live replica, after `watch`): the permit to update these objects, taken back from
 *    the replica holding it first (`revoke`, answered once that replica has reintegrated its writes
 *    of them); the reply's stamp is what the new owner applies before writing (see `permits.ts`).
 *    `granted: false` when this connection's process does not grant permits: work as disconnected.
 * 12. `fetchBatch` (and backfetch's `batch` source, the other way) serves many small objects'
 *    whole content in one answer: their bytes back to back, then one manifest entry per object asked,
 *    in order — its description, or an error for an object it did not serve (which the caller then
 *    fetches alone). See `batch-transfer.ts`; a peer without batches is asked one file at a time.
 *
 * A holder serves many replicas at once: reads run concurrently; each write (its scan at attach, a
 * reintegration batch) takes the file set's short write lock (`src/journal/write-lock.ts`).
 */
import type { ContentAsk } from "./extents-transfer.js";
import type { Problem } from "../filter/object-stat.js";
import type { ConflictKind } from "../conflict/detect.js";
import type { FsObject } from "../journal/fsdb.js";
import type { JournalRecord, LoggedRecord } from "../journal/records.js";
import type { ContentStream } from "./content-stream.js";
import type { BatchItem, BatchRequest, ContentBatch } from "./batch-transfer.js";
import type { BreakCallback } from "./callbacks.js";
import type { PermitGrant } from "./permits.js";

/** What the holder asks of a live replica (requests from the holder's side; see the contract, items 10–11). */
export interface LiveReplica {
  /** The holder's log grew: resolves once the replica has applied it up to `b.volume`. */
  breakCallback(b: BreakCallback): Promise<void>;
  /** Give back these objects' permits: resolves once the replica has reintegrated its writes of them. */
  revoke(fids: string[]): Promise<void>;
}

/** Picks the holding location a connection serves (the `--stdio DIR` root, or a listener's named file set). */
export type RootResolver = (fileset: string | undefined) => string;

/** Options the replica passes to the holder's scan. */
export interface HolderScanOptions {
  scan: boolean;
  maxDeleteFraction: number;
  force: boolean;
}

/** `attach` request. */
export interface AttachRequest {
  /** The replica's id. */
  replica: string;
  /** The file set the replica belongs to (its holder may be this peer), or null when it is new. */
  filesetId: string | null;
  /** The replica has synced with a holder before: a holder root without a file set is refused (unless `scan.force`). */
  expectHolder: boolean;
  scan: HolderScanOptions;
  /** Dry run: the holder journals nothing and changes nothing. */
  dryRun: boolean;
  /** The replica's last-seen volume stamp (the holder registers it; its log is kept from there). */
  lastSeen?: number;
  /** Where the replica is (`host:/path`), for the holder's list of replicas. */
  where?: string;
  /** The empty-source guard (see {@link EmptyGuard}); absent with `--force`. */
  guard?: EmptyGuard;
}

/**
 * What the holder needs to refuse a sync from an empty source (`EMPTY_SOURCE`): which side is SRC,
 * whether the run mirrors, and the replica's side of the facts, taken before its scan.
 */
export interface EmptyGuard {
  source: "holder" | "replica";
  mirror: boolean;
  /** The replica's tree has no entries (besides `.intermezzo/`). */
  replicaEmpty: boolean;
  /** The replica has synced with a holder before. */
  replicaSynced: boolean;
}

/** `attach` reply. */
export interface AttachReply {
  filesetId: string;
  holder: string;
  name: string;
  volume: number;
  /** What the holder's scan journaled and skipped. */
  scanned: { records: number; problems: Problem[] };
  /**
   * The holder's tree held nothing but its root after its scan: no file of the replica's can be
   * identical to one of the holder's, so the replica's large new files need no scan hash (they are
   * hashed as they are sent). Absent from an older holder: the replica hashes them.
   */
  empty?: boolean;
}

/** One record's outcome at the holder. */
export interface RecordResult {
  seq: number;
  status: "applied" | "identical" | "conflict" | "failed";
  /**
   * The holder's fid for the object when it differs from the record's (an identical object
   * adopted); for a conflict, the holder's object at stake (the name's occupant, or the record's own).
   */
  fid?: string;
  version?: string;
  conflict?: ConflictKind;
  detail?: string;
}

/** `reintegrate` reply. */
export interface ReintegrateReply {
  results: RecordResult[];
  volume: number;
}

/** `updates` reply. */
export interface UpdatesReply {
  records: LoggedRecord[];
  volume: number;
  more: boolean;
  /**
   * The log was compacted past `since`: the records this replica needs are gone, and it must
   * revalidate against the holder's objects (`objects`) instead.
   */
  compacted?: boolean;
}

/** `objects` reply: a page of the holder's current objects, in fid order. */
export interface ObjectsReply {
  objects: FsObject[];
  /** The volume stamp the page reflects at least (records up to it are in it). */
  volume: number;
  more: boolean;
}

/** One record the holder already has from this replica. */
export interface AppliedRecord {
  originSeq: number;
  fid: string;
  version: string;
}

/**
 * The replica's side of backfetch: the current content of one of its objects, as a delta against
 * the holder's basis when `signature` (of that basis) is given, else whole.
 */
export type ContentSource = (fid: string, ask?: ContentAsk) => ContentStream;

/** A file set's holder, as a replica sees it. */
export interface HolderPeer {
  attach(req: AttachRequest): Promise<AttachReply>;
  applied(replica: string, fromSeq: number): Promise<AppliedRecord[]>;
  /**
   * `keep`: the holder keeps every version these records destroy, recording this reason. `batch`:
   * the replica's side of a batched backfetch (see the contract, item 12); without it, one file at a time.
   */
  reintegrate(records: JournalRecord[], source: ContentSource, keep?: string, batch?: BatchRequest): Promise<ReintegrateReply>;
  updates(since: number, limit: number): Promise<UpdatesReply>;
  /**
   * See the contract, item 5: a delta against `signature`'s basis, or whole content without one.
   * With `hash` (the content a record states), an object the holder no longer has is served from
   * another object with that content (git: a temp file linked to its final name, then unlinked).
   */
  fetch(fid: string, ask?: ContentAsk, hash?: string): ContentStream;
  /**
   * See the contract, item 12: the whole current content of these small objects in one answer; each
   * item's `hash`, as for {@link HolderPeer.fetch}, names content to serve when its object is gone.
   */
  fetchBatch(items: BatchItem[]): ContentBatch;
  /** See the contract, item 6: the holder's current objects, in the order asked, null for none. */
  getattr(fids: string[]): Promise<Array<FsObject | null>>;
  /**
   * See the contract, item 9: the holder's current objects after fid `after` (`""` from the start),
   * in fid order, in pages: what a replica left behind the compacted log revalidates against.
   */
  objects(after: string, limit: number): Promise<ObjectsReply>;
  /** See the contract, item 7: sign these objects' bases ahead (a hint; at most 32 are taken). */
  presign(fids: string[]): Promise<void>;
  /** See the contract, item 10: from now until `close` the replica holds a callback, broken through `live`. */
  watch(live: LiveReplica): Promise<void>;
  /** See the contract, item 11: the permit to update these objects. */
  permit(fids: string[]): Promise<PermitGrant>;
  /** Settles when the connection to the holder has ended (absent for an in-process holder, which cannot go away). */
  readonly ended?: Promise<Error | undefined>;
  /** `lastSeen`: the volume stamp this replica has now applied (the holder registers it). */
  close(lastSeen?: number): Promise<void>;
  /** Bytes sent and received on the wire so far (0 for an in-process peer). */
  wireBytes(): { sent: number; received: number };
}
