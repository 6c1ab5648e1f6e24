/**
 * Lento's cache-manager role: a replica applying the holder's update notifications, and what it
 * shares with reintegrating its CML (`reintegration.ts`): the tally, conflict reports, paths for
 * messages. The holder is reached only through {@link HolderPeer}.
 */
import type { ContentAsk } from "./extents-transfer.js";
import { decide, type ConflictKind, type Decision, type ServerView } from "../conflict/detect.js";
import type { Policy, Winner } from "../conflict/policy.js";
import { isImzError } from "../errors.js";
import { diskFullError } from "../journal/disk-full.js";
import type { Problem } from "../filter/object-stat.js";
import type { FileSet } from "../journal/fileset.js";
import type { JournalRecord, LoggedRecord } from "../journal/records.js";
import { Applier } from "./apply.js";
import type { StagedContent } from "./content-stream.js";
import { fetchesContent } from "./lazy.js";
import type { HolderPeer, RecordResult } from "./peer.js";
import { replayInOrder } from "./pipeline.js";
import { receiveContent, statedContent, wantOf } from "./delta-transfer.js";
import { Batcher, batchable, smallContent } from "./batch-transfer.js";
import type { ContentStream } from "./content-stream.js";
import { rebirthTwin } from "./twin.js";
import { noteUnapplied } from "./unapplied.js";

/** Records shipped per reintegrate request. */
export const BATCH = 1000;

/** A conflict as a sync reports it. */
export interface ConflictReport {
  path: string;
  kind: ConflictKind;
  detail: string;
  /** Which side found it: the holder during replay, or this replica applying notifications. */
  side: "holder" | "replica";
  /** How the policy pass settled it (absent: left pending). */
  policy?: Policy;
  winner?: Winner;
  /** `open`: parked for `intermezzo resolve`; `auto`: settled by the policy. */
  status?: "open" | "auto";
  /** Where the losing version is kept on this replica (relative to its root); the holder keeps its own. */
  stored?: string;
  /** Keep-both: the conflict copy's path. */
  aside?: string;
  /** The entry's id in `.intermezzo/conflicts.log`. */
  id?: string;
}

/** A record the holder refused as a conflict, with its result. */
export interface Refusal {
  record: JournalRecord;
  result: RecordResult;
  report: ConflictReport;
}

/** Counters and findings of one sync, filled in as it goes. */
export interface SyncTally {
  recordsShipped: number;
  recordsApplied: number;
  filesSent: number;
  bytesSent: number;
  filesReceived: number;
  bytesReceived: number;
  /** File bytes known to be coming (content of records being shipped or applied), for progress. */
  bytesExpected: number;
  conflicts: ConflictReport[];
  problems: Problem[];
}

/** A fresh, zeroed {@link SyncTally}. */
export function newTally(): SyncTally {
  return { recordsShipped: 0, recordsApplied: 0, filesSent: 0, bytesSent: 0, filesReceived: 0, bytesReceived: 0, bytesExpected: 0, conflicts: [], problems: [] };
}

/**
 * Applies the holder's log after our last-seen volume stamp (update notification). Records about
 * objects with pending local changes are not applied (the conflict is the holder's to report when
 * those changes reintegrate); everything else is applied with Lento's unjournaled writes. Objects in
 * `settling` are being brought to the holder's state by a conflict resolution afterwards: a record
 * about one that does not apply is not a new conflict. Neither is one about an object a record of this
 * run failed to change (its later records no longer fit it; it is listed as unapplied). An object
 * whose content the holder could not serve is added to `settling`, for that restore. Returns false,
 * having applied nothing more, when the holder's log no longer reaches back to our last-seen stamp
 * (compacted): the caller then revalidates (`revalidate.ts`). When the log has nothing after our
 * stamp, nothing is written (the stamp stays as it is); otherwise `beforeApplying` runs first, once,
 * outside any transaction (the exchange marks itself open there, `sync.ts`).
 */
export async function applyUpdates(
  set: FileSet,
  peer: HolderPeer,
  tally: SyncTally,
  owner: boolean,
  settling: Set<string> = new Set(),
  /** `--no-specials`: the holder's special files are skipped (each a per-path problem). */
  skipSpecials = false,
  /** False (`--no-xattrs`): the extended attributes the holder's records carry are not applied here. */
  xattrs = true,
  /** Runs before the first record is applied (not at all when the log has nothing new). */
  beforeApplying: () => void = () => undefined,
): Promise<boolean> {
  let since = Number(set.meta("last_seen"));
  let page = await peer.updates(since, BATCH);
  // The holder no longer has the log after our stamp: the caller revalidates instead.
  if (page.compacted) return false;
  if (page.records.length === 0) return true;
  beforeApplying();
  const passing = new Set(settling);
  const applier = new Applier(set, { owner, xattrs });
  const view: ServerView = {
    get: (fid) => set.fsdb.get(fid),
    typeOf: (fid) => set.fsdb.typeOf(fid),
    child: (p, n) => set.fsdb.child(p, n),
    hasChildren: (fid) => set.fsdb.hasChildren(fid),
    baseline: (fid) => set.fsdb.get(fid)?.version ?? "",
  };
  const fetch = holderFetch(applier, peer, tally);
  set.startGroup(false);
  try {
    for (;;) {
      if (page.compacted) {
        set.endGroup();
        return false;
      }
      tally.bytesExpected += bytesComing(set, page.records);
      await replayInOrder(page.records, {
        // our own records coming back (a first copy's every record) are not fetched ahead: asking
        // `wanted` of each here and again at its step read its version twice; the rare one that was
        // overtaken fetches its content at its step
        prefetch: (l) => (l.record.origin !== set.replicaId && wanted(set, l) && fetchesContent(set, l.record) && decide(view, l.record).kind === "apply" ? fetch(l.record) : undefined),
        batched: (l) => smallContent(statedContent(l.record)?.size),
        bytes: (l) => statedContent(l.record)?.size ?? 0,
        step: async (l, staged) => {
          // nothing to do (our own record coming back, most often): the page's end moves last_seen past it
          if (!wanted(set, l)) return;
          if (skipSpecials && l.record.op === "mknod") {
            tally.problems.push({ path: describePath(set, l.record), code: "UNSUPPORTED", message: "special file skipped (--no-specials)" });
            return set.setMeta("last_seen", String(l.record.seq));
          }
          let content: StagedContent | undefined;
          if (fetchesContent(set, l.record) && decide(view, l.record).kind === "apply") {
            try {
              content = await contentOf(staged, () => fetch(l.record));
            } catch (err) {
              // the holder's file was moved or changed under its Fsdb (a live holder's tree, journaled
              // a moment later): this object only, brought to the holder's state by the next exchange
              if (!isImzError(err, "IO") && !isImzError(err, "PATH_UNSAFE")) throw err;
              return passUnapplied(set, l.record, err, tally, passing);
            }
            if (!content) {
              settling.add(l.record.fid);
              return applyGone(set, applier, view, l, tally, passing, settling);
            }
          }
          await applyOne(set, applier, view, l, content, tally, passing, settling);
        },
      });
      await applier.finishBatch();
      const last = page.records.at(-1);
      if (last) since = last.record.seq;
      set.setMeta("last_seen", String(since));
      if (!page.more) break;
      page = await peer.updates(since, BATCH);
    }
  } catch (err) {
    applier.abortBatch();
    throw err;
  }
  set.endGroup();
  return true;
}

/**
 * The content bytes a page of the holder's log will bring, for progress: not those of this
 * replica's own records coming back, nor content its object here already has (a file both trees
 * held, adopted at reintegration): neither is moved. One query per page.
 */
function bytesComing(set: FileSet, records: readonly LoggedRecord[]): number {
  const theirs = records.flatMap(({ record: r }) => ((r.op === "close" || r.op === "create") && r.content && r.origin !== set.replicaId ? [{ fid: r.fid, ...r.content }] : []));
  if (theirs.length === 0) return 0;
  const here = set.fsdb.hashesOf(theirs.map((c) => c.fid));
  return theirs.reduce((n, c) => n + (c.hash !== "" && here.get(c.fid) === c.hash ? 0 : c.size), 0);
}

/**
 * False for our own records coming back (unless {@link overtaken}), and for records touching an
 * object (or a name) with pending local changes: that conflict is reported by the holder when the
 * changes reintegrate.
 */
function wanted(set: FileSet, l: LoggedRecord): boolean {
  const r = l.record;
  if ((r.origin === set.replicaId && !overtaken(set, l)) || set.cml.hasPending(r.fid)) return false;
  const place = r.op === "rename" ? { parent: r.newParent, name: r.newName } : "parent" in r ? { parent: r.parent, name: r.name } : undefined;
  const occupant = place && set.fsdb.child(place.parent, place.name);
  return !(occupant && occupant.fid !== r.fid && set.cml.hasPending(occupant.fid));
}

/**
 * True for our own record coming back when its object here is at an older version than the record's
 * stamp. Our records are settled at reintegration, before the holder's log is applied; a holder
 * record logged before ours but applied here after it (a directory's attributes are last-writer-wins,
 * so the holder's own scan of that directory applies) set the object back. The holder applied the
 * two in log order, so ours is applied again, after it, and both sides end in the same state.
 */
function overtaken(set: FileSet, l: LoggedRecord): boolean {
  const version = set.fsdb.versionOf(l.record.fid);
  return version !== undefined && stampCounter(version) < stampCounter(l.version);
}

/**
 * Fetches the holder's current content of a record's object into a staged temp file (a delta
 * against this replica's version where it has one), counting what moved in `tally`.
 */
export function holderFetch(applier: Applier, peer: HolderPeer, tally: SyncTally): (r: JournalRecord) => Promise<StagedContent> {
  const batcher = new Batcher(applier.holding, (items) => {
    const b = peer.fetchBatch(items);
    return { chunks: counted(b.chunks, (n) => (tally.bytesReceived += n)), done: b.done };
  });
  return (r) => {
    tally.filesReceived++;
    const want = wantOf(r);
    const request = (ask?: ContentAsk): ContentStream => {
      const s = peer.fetch(r.fid, ask, want.expected?.hash);
      return { ...s, chunks: counted(s.chunks, (n) => (tally.bytesReceived += n)) };
    };
    const alone = (): Promise<StagedContent> => receiveContent(applier.holding, want, request, { onSignature: (n) => (tally.bytesSent += n) });
    return batchable(applier.holding, want) ? batcher.fetch({ fid: r.fid, ...(want.expected?.hash ? { hash: want.expected.hash } : {}) }, alone) : alone();
  };
}

async function applyOne(
  set: FileSet,
  applier: Applier,
  view: ServerView,
  l: LoggedRecord,
  staged: StagedContent | undefined,
  tally: SyncTally,
  passing: Set<string>,
  settling: Set<string>,
): Promise<void> {
  const r = l.record;
  const advance = (): void => set.setMeta("last_seen", String(r.seq));
  // nothing to do (our own record coming back, most often): the page's end moves last_seen past it
  if (!wanted(set, l)) return;
  const d = decide(view, r);
  if (d.kind === "identical") {
    set.transaction(() => {
      if (d.fid !== r.fid && r.op !== "unlink" && r.op !== "rmdir") {
        const twin = set.fsdb.get(r.fid); // the holder's fid, which our Fsdb has elsewhere too
        if (twin) rebirthTwin(set, twin);
        set.fsdb.remap(d.fid, r.fid);
      }
      const o = set.fsdb.get(r.fid);
      // Never step back: our own later change (settled at reintegration) may already be newer. A
      // record that holds here for its own part only (a rename or attributes already as it says)
      // gives its stamp only to an object that was at its base: the stamp names the holder's whole
      // object, whose content may be a version this replica has not taken in (churn seed 47164920).
      const whole = r.op === "close" || r.op === "create" || !("base" in r) || r.base === o?.version;
      if (o && whole && stampCounter(l.version) > stampCounter(o.version)) set.fsdb.put({ ...o, version: l.version });
      advance();
    });
    return;
  }
  if (d.kind === "conflict") {
    const settled = passing.has(r.fid) || (d.serverFid !== undefined && passing.has(d.serverFid));
    if (!settled) outOfStep(set, r, d, tally, passing, settling);
    return advance();
  }
  try {
    const commit = await applier.apply(r, staged);
    set.transaction(() => {
      commit(l.version);
      advance();
    });
    tally.recordsApplied++;
    tally.problems.push(...applier.takeWarnings());
  } catch (err) {
    applier.takeWarnings();
    passUnapplied(set, r, err, tally, passing);
  }
}

/**
 * A holder record that does not fit this replica's state of an object with no change pending here
 * (wanted() passed it). Either a change pending here explains it — the record's directory was
 * deleted or moved here, not yet reintegrated: the holder reports that conflict when it is — or the
 * replica is out of step: an earlier record it failed to apply (listed as unapplied) was one this
 * one builds on, such as the directory a file is renamed into. Either way the log has moved past
 * the record and will not offer it again, so the object is listed as unapplied, to be brought to
 * the holder's state; out of step, at the end of this exchange (`settling`), else once the pending
 * change has reintegrated. Before, the record was only reported, and the object kept its old place
 * for good (churn seed 225288485: a file another replica renamed into a directory whose own record
 * had failed here).
 */
function outOfStep(set: FileSet, r: JournalRecord, d: Decision & { kind: "conflict" }, tally: SyncTally, passing: Set<string>, settling: Set<string>): void {
  const places = r.op === "rename" ? [r.parent, r.newParent] : "parent" in r ? [r.parent] : [];
  const explained = places.some((p) => set.cml.hasPending(p));
  if (explained) tally.conflicts.push({ path: describePath(set, r), kind: d.conflict, detail: d.detail, side: "replica" });
  else settling.add(r.fid);
  noteUnapplied(set, r.fid);
  passing.add(r.fid);
}

/**
 * A record this replica could not apply (`err`): a per-path problem, and past it for good — the
 * object is listed as unapplied, so the next sync brings it to the holder's state instead.
 */
function passUnapplied(set: FileSet, r: JournalRecord, err: unknown, tally: SyncTally, passing: Set<string>): void {
  const e = diskFullError(err) as Error & { code?: string };
  tally.problems.push({ path: describePath(set, r), code: e.code ?? "IO", message: e.message });
  noteUnapplied(set, r.fid);
  passing.add(r.fid);
  set.setMeta("last_seen", String(r.seq));
}

/**
 * The content of a record being applied: the prefetched copy, or a fetch when there was none (a
 * hash mismatch was already retried whole by the transfer). Undefined when the holder no longer has
 * the object.
 */
async function contentOf(staged: Promise<StagedContent> | undefined, fetch: () => Promise<StagedContent>): Promise<StagedContent | undefined> {
  try {
    return await (staged ?? fetch());
  } catch (err) {
    if (isImzError(err, "RECORD_INVALID")) return undefined;
    throw err;
  }
}

/**
 * A record whose content the holder could not serve (no object of that fid or content there: git's
 * loose objects after gc, or a live holder's file moved under its Fsdb a moment before its watcher
 * journals it). A create still places its file (empty), which a link may need meanwhile; a close is
 * not taken in: its version stamp without its content would make the old bytes look current for
 * good (found by the churn test: an empty file carrying the holder's latest stamp). Either way the
 * exchange's last restore brings the object to the holder's state — its content, or its removal
 * when the holder has none — and later records about it pass quietly; it is listed as unapplied
 * meanwhile, so a run killed first leaves that to the next one.
 */
async function applyGone(set: FileSet, applier: Applier, view: ServerView, l: LoggedRecord, tally: SyncTally, passing: Set<string>, settling: Set<string>): Promise<void> {
  const r = l.record;
  if (r.op === "create") {
    const { content: _c, ...bare } = r;
    await applyOne(set, applier, view, { ...l, record: bare }, undefined, tally, passing, settling);
  }
  set.transaction(() => {
    noteUnapplied(set, r.fid);
    set.setMeta("last_seen", String(r.seq));
  });
  passing.add(r.fid);
}

/** The volume number inside a version stamp (`<holder>:<volume>`), 0 for none. */
function stampCounter(version: string): number {
  return Number(version.slice(version.indexOf(":") + 1)) || 0;
}


/** A best-effort path for messages about a record. */
export function describePath(set: FileSet, r: JournalRecord): string {
  try {
    if ("parent" in r && "name" in r) {
      const dir = set.fsdb.get(r.parent) ? set.fsdb.pathOf(r.parent) : `<${r.parent}>`;
      return dir === "" ? r.name : `${dir}/${r.name}`;
    }
    return set.fsdb.pathOf(r.fid) || ".";
  } catch {
    return `<${r.fid}>`;
  }
}

/** `chunks`, each one's length counted through `add` as it passes. */
export async function* counted(chunks: AsyncIterable<Buffer>, add: (n: number) => void): AsyncGenerator<Buffer> {
  for await (const c of chunks) {
    add(c.length);
    yield c;
  }
}
