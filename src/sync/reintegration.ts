/**
 * Lento's cache-manager role, its first half: a replica reintegrating its CML with the holder, a
 * window of the CML at a time (the other half, applying the holder's update notifications, is
 * `client.ts`). The holder is reached only through {@link HolderPeer}.
 */
import { signatureOf, type ContentAsk } from "./extents-transfer.js";
import { leadingCode } from "../errors.js";
import type { FileSet } from "../journal/fileset.js";
import { optimiseWindow } from "../journal/cml-window.js";
import { mapFids, type Content, type JournalRecord } from "../journal/records.js";
import { Applier } from "./apply.js";
import type { ContentSource, HolderPeer, RecordResult } from "./peer.js";
import { withinBytes } from "./page-bytes.js";
import { readBatch, type BatchItem, type BatchRequest, type ContentBatch } from "./batch-transfer.js";
import type { ContentStream } from "./content-stream.js";
import { readContent } from "./transfer.js";
import { BATCH, counted, describePath, type ConflictReport, type Refusal, type SyncTally } from "./client.js";
import { rebirthTwin } from "./twin.js";
import { unapplied } from "./unapplied.js";

/**
 * Records read, optimised and shipped together: the CML is reintegrated a window at a time, so a
 * replica's memory follows the window and not the CML (a first copy of a large tree journals a record
 * per object). A window goes in one reintegrate request where its JSON fits (`PAGE_BYTES`; the
 * protocol takes 5,000 records). Each request is one batch on the holder — its files flushed, its
 * rows committed, its first replay window staged before anything is applied — so a first copy of
 * small files costs a third of the batches it cost at 1,000 records a request.
 */
export const WINDOW = 4 * BATCH;

/**
 * Reintegrates the replica's CML: settles records the holder already has (a lost reply), then, a
 * window of the CML at a time, optimises the window, ships it in batches and settles each result.
 * Conflicting and failed records stay in the CML; the conflicts are returned (and reported in
 * `tally`) for the policy pass. `window` is the number of records per window (tests make it small).
 */
export async function reintegrate(set: FileSet, peer: HolderPeer, tally: SyncTally, owner: boolean, keep?: string, window = WINDOW): Promise<Refusal[]> {
  const refusals: Refusal[] = [];
  const first = set.cml.first();
  if (!first) return refusals;
  const adopted = new Map<string, string>();
  // objects still to be brought to the holder's version (read once: the list is short, settle is per record)
  const lagging = new Set(unapplied(set));
  const already = await peer.applied(set.replicaId, first.originSeq);
  if (already.length > 0) {
    const bySeq = new Map(already.map((a) => [a.originSeq, a]));
    for (const part of set.cml.windows(window)) {
      set.transaction(() => {
        for (const r of part) {
          const a = bySeq.get(r.originSeq);
          if (a) settle(set, r, { seq: r.seq, status: "applied", fid: a.fid, version: a.version }, adopted, lagging);
        }
      });
    }
  }
  const holding = new Applier(set, { owner }).holding;
  // An object removed after its close but whose inode lives on under another name (git: write a
  // temp file, link it to its final name, unlink the temp) is read there, found by the content hash
  // the record states; the holder checks that hash after the transfer.
  // per window: the content hash each content record states, and its object's own (read in one query)
  let stated = new Map<string, string>();
  let hashes = new Map<string, string>();
  const pick = (fid: string): string => {
    const hash = stated.get(fid) ?? "";
    if (hash === "") return fid;
    const own = stated.has(fid) ? hashes.get(fid) : set.fsdb.hashOf(fid);
    return own !== undefined && (own === "" || own === hash) ? fid : (set.fsdb.byHash(hash)?.fid ?? fid);
  };
  const source = (fid: string, ask?: ContentAsk): ContentStream => {
    const s = readContent(holding, pick(fid), ask);
    tally.filesSent++;
    tally.bytesReceived += signatureOf(ask)?.length ?? 0;
    return { ...s, chunks: counted(s.chunks, (n) => (tally.bytesSent += n)) };
  };
  const batchSource = (items: BatchItem[]): ContentBatch => {
    const b = readBatch(holding, items, (i) => pick(i.fid));
    return { chunks: counted(b.chunks, (n) => (tally.bytesSent += n)), done: b.done.then((entries) => ((tally.filesSent += entries.filter((e) => !("error" in e)).length), entries)) };
  };
  // Records appended meanwhile (a twin reborn as an object of its own) come in a later window.
  const linked = new Set<string>();
  for (const part of set.cml.windows(window)) {
    const end = part[part.length - 1]!.seq;
    const read = adopted.size > 0 ? part.map((r) => adoptedFids(r, adopted)) : part;
    hashes = set.fsdb.hashesOf(read.flatMap((r) => ((r.op === "close" || r.op === "create") && r.content ? [r.fid] : [])));
    const { records, dropped } = optimiseWindow(read, (fid, c) => shippable(set, hashes.get(fid), fid, c, end), linked);
    for (const r of records) if (r.op === "close" || r.op === "create") tally.bytesExpected += r.content?.size ?? 0;
    const unchanged = new Set(part);
    set.transaction(() => {
      set.cml.drop(dropped);
      for (const r of records) if (!unchanged.has(r)) set.cml.replace(r);
    });
    stated = new Map(records.flatMap((r) => ((r.op === "close" || r.op === "create") && r.content ? [[r.fid, r.content.hash] as const] : [])));
    await ship(set, peer, records, { source, batchSource, keep }, tally, refusals, adopted, lagging);
  }
  if (adopted.size > 0) set.transaction(() => set.cml.remapAll((f) => adopted.get(f) ?? f));
  return refusals;
}

/**
 * Ships one optimised window in batches and settles each result. In replay order: a folded record
 * carries the seq of the last record it absorbed, so the optimised list is not sorted by seq.
 */
async function ship(
  set: FileSet,
  peer: HolderPeer,
  records: readonly JournalRecord[],
  how: { source: ContentSource; batchSource: BatchRequest; keep: string | undefined },
  tally: SyncTally,
  refusals: Refusal[],
  adopted: Map<string, string>,
  lagging: ReadonlySet<string>,
): Promise<void> {
  for (let i = 0; i < records.length; ) {
    const batch = withinBytes(records.slice(i, i + WINDOW));
    i += batch.length;
    const reply = await peer.reintegrate(batch, how.source, how.keep, how.batchSource);
    tally.recordsShipped += batch.length;
    set.transaction(() => {
      reply.results.forEach((res, k) => {
        const r = batch[k]!;
        if (res.status === "conflict") {
          const report: ConflictReport = { path: describePath(set, r), kind: res.conflict!, detail: res.detail ?? "", side: "holder" };
          tally.conflicts.push(report);
          refusals.push({ record: r, result: res, report });
        }
        else if (res.status === "failed") tally.problems.push({ path: describePath(set, r), code: leadingCode(res.detail) ?? "REMOTE_ERROR", message: res.detail ?? "failed on the holder" });
        else {
          if (adoptedAsIs(r, res)) tally.bytesExpected -= r.content.size; // counted when shipped; never sent
          // applied, with a warning (extended attributes the holder's filesystem refused)
          if (res.detail !== undefined) tally.problems.push({ path: describePath(set, r), code: leadingCode(res.detail) ?? "UNSUPPORTED", message: `on the holder: ${res.detail}` });
          settle(set, r, res, adopted, lagging);
        }
      });
    });
  }
}

/**
 * True for a record with content that the holder took without its content: identical to what it
 * has, or a creation it adopted as an object of its own with the same content (its result names
 * the holder's fid: attributes that differed applied as a setattr).
 */
function adoptedAsIs(r: JournalRecord, res: RecordResult): r is JournalRecord & { op: "create" | "close"; content: { size: number } } {
  if ((r.op !== "create" && r.op !== "close") || !r.content) return false;
  return res.status === "identical" || (r.op === "create" && res.fid !== undefined && res.fid !== r.fid);
}

/** A record read from the CML with the fids the holder adopted in an earlier window rewritten (the same object when none is). */
function adoptedFids(r: JournalRecord, adopted: ReadonlyMap<string, string>): JournalRecord {
  const out = mapFids(r, (f) => adopted.get(f) ?? f);
  return JSON.stringify(out) === JSON.stringify(r) ? r : out;
}

/**
 * Whether the content a record of the window ending at `end` states for `fid` (whose own content
 * hash is `own`, undefined when it is gone) can be sent: the object (or another file) has it, or it
 * cannot be told (no hash). Not when the object is gone, or has other content and a later record of
 * the CML is about it: a later window changes or removes it.
 */
function shippable(set: FileSet, own: string | undefined, fid: string, content: Content, end: number): boolean {
  if (content.hash === "") return true;
  if (own === content.hash || own === "" || set.fsdb.byHash(content.hash) !== undefined) return true;
  return own !== undefined && !set.cml.hasLater(fid, end);
}

/**
 * Marks one of our records as accepted by the holder: adopt its fid (the Fsdb at once; the records
 * still pending are rewritten through `adopted`: each later window as it is read, what is left at the end)
 * and stamp, drop the record.
 */
function settle(set: FileSet, r: JournalRecord, res: RecordResult, adopted: Map<string, string>, lagging: ReadonlySet<string>): void {
  let fid = r.fid;
  if (res.fid !== undefined && res.fid !== r.fid && r.op !== "unlink" && r.op !== "rmdir") {
    const twin = set.fsdb.get(res.fid);
    if (twin && set.fsdb.get(r.fid)) rebirthTwin(set, twin);
    set.fsdb.remap(r.fid, res.fid);
    adopted.set(r.fid, res.fid);
    fid = res.fid;
  }
  // dropped first: the rebase below then reads only the records left about the object (a first
  // copy's have none), not this one's body as well
  set.cml.drop([r.seq]);
  const version = set.fsdb.versionOf(fid);
  // An object still to be brought to the holder's version (`unapplied.ts`: a merge's content, an
  // update that failed here) keeps its stamp: the holder's new one also names content this replica
  // does not have yet, and a later edit shipped on it would replace that content without a conflict
  // (churn seed 47164920). The restore stamps it once everything is here.
  if (version !== undefined && res.version !== undefined && res.version !== version && !lagging.has(fid)) {
    set.cml.rebase(r.fid, version, res.version);
    set.fsdb.setVersion(fid, res.version);
  }
}

