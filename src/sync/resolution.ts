/**
 * The replica's conflict resolution: after a reintegration, every record the holder refused runs
 * through the policy pass (`src/conflict/policy.ts`, pure) and its plan (`plan.ts`, pure); this
 * module performs the plans. Rebased and new records go back to the holder in another round (the
 * holder keeping what they replace); the objects whose holder version won are brought in after
 * update notification by {@link restoreFromHolder}. Before anything of the replica's is destroyed
 * or hidden, it is stored under `.intermezzo/conflicts/` and logged.
 */
import { brief, trace } from "../trace.js";
import { planResolution, effectiveWinner, type Action } from "../conflict/plan.js";
import { policyFor, resolveConflict, type ConflictCase, type PolicyRules } from "../conflict/policy.js";
import { conflictName, copyTime, splitExt } from "../conflict/naming.js";
import { logConflict, newEntryId, storeVersion, versionInfo, type ConflictEntry } from "../conflict/store.js";
import { isTreeRace, type ImzError } from "../errors.js";
import type { FileSet } from "../journal/fileset.js";
import type { FsObject } from "../journal/fsdb.js";
import { Journal } from "../journal/journal.js";
import { mapFids, unnumbered, type JournalRecord, type NewRecord } from "../journal/records.js";
import { parseXattrsText } from "../journal/xattrs.js";
import { placement, rowAttrs } from "../filter/object-stat.js";
import { Applier } from "./apply.js";
import { renameAt, rmdirAt, setMtimeAt, unlinkAt } from "./beneath.js";
import { clearAside, crashPoint, noteAside } from "./settle-intent.js";
import { holderFetch, type Refusal, type SyncTally } from "./client.js";
import { reintegrate } from "./reintegration.js";
import type { HolderPeer } from "./peer.js";
import { noteUnapplied, settleUnapplied } from "./unapplied.js";
import { placeWhereNow } from "./place-now.js";

/** Rounds of resolve-and-reship before what is left stays pending (a revived directory chain needs one per level). */
export const MAX_ROUNDS = 16;

/** Options of the policy pass. */
export interface ResolveOptions {
  rules: PolicyRules;
  owner: boolean;
  /** Keep-both: most conflict copies beside one path; older ones are removed (they stay in the store). */
  keepCopies: number;
  /** Records of the CML optimised and shipped at once (default `reintegration.ts`'s `WINDOW`; tests make it small). */
  window?: number;
}

/**
 * Reintegrates the CML and resolves what the holder refuses, round after round. Returns the
 * objects to bring to the holder's state ({@link restoreFromHolder}, around update notification).
 */
export async function reintegrateResolving(set: FileSet, peer: HolderPeer, tally: SyncTally, opts: ResolveOptions): Promise<Set<string>> {
  const settling = new Set<string>();
  let refusals = await reintegrate(set, peer, tally, opts.owner, undefined, opts.window);
  for (let round = 0; refusals.length > 0 && round < MAX_ROUNDS; round++) {
    const reship = await resolveRound(set, peer, tally, refusals, opts, settling);
    if (!reship) break;
    refusals = await reintegrate(set, peer, tally, opts.owner, `conflict won by replica ${set.replicaId}`, opts.window);
    crashPoint();
  }
  return settling;
}

/** Performs the plans of one round's refusals; true when records wait to be shipped again. */
async function resolveRound(set: FileSet, peer: HolderPeer, tally: SyncTally, refusals: Refusal[], opts: ResolveOptions, settling: Set<string>): Promise<boolean> {
  const asked = [...new Set(refusals.flatMap(({ record, result }) => [record.fid, ...(result.fid ? [result.fid] : [])]))];
  const held = await holderObjects(peer, asked);
  const exec = new Executor(set, opts);
  const refused = new Set<string>();
  for (const { record: r, result, report } of refusals) {
    // A record about an object (or inside a directory) refused earlier in this round waits for
    // that refusal's resolution and is shipped again after it: a consequence, not a conflict.
    const about = [r.fid, "parent" in r ? r.parent : "", r.op === "rename" ? r.newParent : ""];
    if (about.some((f) => refused.has(f))) {
      trace("refusal.deferred", () => ({ replica: set.replicaId, kind: report.kind, record: brief(r) }));
      tally.conflicts.splice(tally.conflicts.indexOf(report), 1);
      continue;
    }
    // The replica removed the object since (its removal, shipped after this record, was settled as
    // the same change as the holder's): nothing is left to settle, and nothing here to keep.
    const pendingFid = set.cml.between(r.seq, r.seq)[0]?.fid ?? r.fid; // adopted fids were rewritten
    if (!set.fsdb.get(pendingFid) && r.op !== "unlink" && r.op !== "rmdir") {
      set.transaction(() => set.cml.drop([r.seq]));
      tally.conflicts.splice(tally.conflicts.indexOf(report), 1);
      continue;
    }
    refused.add(r.fid);
    const c: ConflictCase = {
      kind: report.kind,
      record: r,
      server: held.get(result.fid ?? r.fid),
      local: set.fsdb.get(r.fid),
    };
    const res = resolveConflict(c, policyFor(opts.rules, report.path));
    const winner = effectiveWinner(c, res);
    const entry: ConflictEntry = {
      id: newEntryId(), time: new Date().toISOString(), path: report.path, kind: c.kind,
      status: res.parked ? "open" : "auto", detail: report.detail, policy: res.policy, winner,
      replica: set.replicaId, holder: set.meta("holder_replica"),
      client: r.op === "unlink" || r.op === "rmdir" ? null : versionInfo(c.local), server: versionInfo(c.server),
    };
    const plan = planResolution(c, res);
    trace("refused", () => ({ replica: set.replicaId, kind: c.kind, winner, record: brief(r), plan }));
    try {
      // The replica's version is about to be replaced or hidden (also by a merge, which brings in
      // the holder's content): keep it first.
      const replacedHere = winner !== "client" || !(r.op === "close" || r.op === "create");
      if (replacedHere && c.local && c.local.type !== "d" && differs(c.local, c.server)) {
        const stored = storeVersion(set, c.local, () => exec.holding.openRead(c.local!.fid), entry.time);
        if (stored) Object.assign(entry, { kept: "client", stored });
      }
      crashPoint();
      // what is to take the holder's version is journaled before anything is done (settle-intent.ts)
      set.transaction(() => {
        for (const a of plan) if (a.do === "restore") noteUnapplied(set, a.fid);
      });
      for (const a of plan) {
        const aside = exec.perform(a, c, settling);
        if (aside) entry.aside = aside;
      }
    } catch (err) {
      // The tree moved under this settlement (its file renamed or deleted a moment before the scan
      // could journal it): this conflict only is left, pending, to meet the holder again in the
      // next exchange; the round's other settlements go on (one of them may have revived a version
      // that only this round's end journals).
      if (!isTreeRace(err)) throw err;
      tally.conflicts.splice(tally.conflicts.indexOf(report), 1);
      tally.problems.push({ path: report.path, code: (err as ImzError).code, message: `conflict (${c.kind}) left to the next sync: ${(err as Error).message}` });
      continue;
    }
    logConflict(set, entry);
    crashPoint();
    Object.assign(report, { policy: res.policy, winner, status: entry.status, id: entry.id }, entry.stored ? { stored: entry.stored } : {}, entry.aside ? { aside: entry.aside } : {});
  }
  return exec.finish();
}

/** Fids asked of `getattr` at once (the request schema allows 5000). */
const GETATTR_PAGE = 2000;

/** The holder's current objects for `fids` (absent where it has none), asked in pages. */
export async function holderObjects(peer: HolderPeer, fids: string[]): Promise<Map<string, FsObject | undefined>> {
  const out = new Map<string, FsObject | undefined>();
  for (let i = 0; i < fids.length; i += GETATTR_PAGE) {
    const page = fids.slice(i, i + GETATTR_PAGE);
    (await peer.getattr(page)).forEach((o, k) => out.set(page[k]!, o ?? undefined));
  }
  return out;
}

/**
 * The holder's whole Fsdb, paged through `objects`, and the volume stamp its first page reflects
 * (records up to it are in the listing): what revalidation and a joining mirror compare with.
 */
export async function holderListing(peer: HolderPeer): Promise<{ objects: Map<string, FsObject>; volume: number }> {
  const objects = new Map<string, FsObject>();
  let volume: number | undefined;
  for (let after = ""; ; ) {
    const page = await peer.objects(after, GETATTR_PAGE);
    volume ??= page.volume;
    for (const o of page.objects) objects.set(o.fid, o);
    const last = page.objects.at(-1);
    if (!page.more || !last) return { objects, volume };
    after = last.fid;
  }
}

/** True when `local` holds something `server` does not (different content, or the server has none). */
export function differs(local: FsObject, server: FsObject | undefined): boolean {
  return !server || server.type !== local.type || server.hash !== local.hash || server.target !== local.target;
}

/** Performs plan actions on the replica; records to ship first are gathered and put in front of the CML. */
class Executor {
  readonly holding;
  private front: NewRecord[] = [];
  /** Pending records the front's creations make redundant (a revived object's edits), dropped with their journaling. */
  private readonly superseded = new Set<number>();
  private changed = false;

  constructor(
    private readonly set: FileSet,
    private readonly opts: ResolveOptions,
  ) {
    this.holding = new Applier(set, { owner: opts.owner }).holding;
  }

  /** Performs one action; returns the conflict copy's path for `aside`. */
  perform(a: Action, c: ConflictCase, settling: Set<string>): string | undefined {
    const set = this.set;
    switch (a.do) {
      case "drop":
        set.transaction(() => set.cml.drop(set.cml.about(a.fid).map((r) => r.seq)));
        return undefined;
      case "discard":
        this.discard(a.fid);
        return undefined;
      case "restore":
        settling.add(a.fid);
        return undefined;
      case "rebase":
        this.rebase(a.seq, c.server);
        return undefined;
      case "evict": {
        const s = c.server!;
        this.front.push({ op: s.type === "d" ? "rmdir" : "unlink", fid: s.fid, time: Date.now(), parent: s.parent!, name: s.name, base: s.version });
        this.changed = true;
        return undefined;
      }
      case "aside":
        return this.aside(a.fid);
      case "revive":
        // a directory to revive that this replica removed too is gone on both sides (`place-now.ts`)
        if (c.kind === "create/delete-parent" && !set.fsdb.get(a.fid)) this.placeNow(c.record);
        else this.revive(a.fid, settling);
        return undefined;
    }
  }

  /** Puts the gathered records in front of what is pending; true when anything waits to be shipped. */
  finish(): boolean {
    const set = this.set;
    if (this.front.length > 0) {
      const journal = new Journal(set);
      // Removals free names first; then placements, each directory before what goes in it.
      const depth = (r: NewRecord): number => (r.op === "unlink" || r.op === "rmdir" || !set.fsdb.get(r.fid) ? 0 : set.fsdb.pathOf(r.fid).split("/").length);
      const ordered = this.front.map((r, i) => ({ r, i, d: depth(r) })).sort((x, y) => x.d - y.d || x.i - y.i);
      set.transaction(() => {
        const pending = set.cml.all();
        set.cml.drop(pending.map((r) => r.seq));
        for (const { r: rec } of ordered) journal.record(rec, () => undefined);
        for (const r of pending) if (!this.superseded.has(r.seq)) set.cml.append(unnumbered(r));
      });
    }
    return (this.changed || this.front.length > 0) && set.cml.count() > 0;
  }

  /** Removes the replica's object (a directory with everything in it), keeping each file first. */
  private discard(fid: string): void {
    const set = this.set;
    const o = set.fsdb.get(fid);
    if (!o) return;
    const objects = o.type === "d" ? [...set.fsdb.descendantsDeepestFirst(fid), o] : [o];
    const time = new Date().toISOString();
    for (const x of objects) {
      if (x !== o && x.type !== "d") {
        const stored = storeVersion(set, x, () => this.holding.openRead(x.fid), time);
        logConflict(set, { id: newEntryId(), time, path: set.fsdb.pathOf(x.fid), kind: "kept", status: "auto", detail: "inside a discarded directory", replica: set.replicaId, client: versionInfo(x), kept: "client", ...(stored ? { stored } : {}) });
      }
      this.holding.at(x.fid, (p) => (x.type === "d" ? rmdirAt(p) : unlinkAt(p)));
      set.transaction(() => {
        set.cml.drop(set.cml.about(x.fid).map((r) => r.seq));
        set.fsdb.delete(x.fid);
      });
    }
    if (o.parent !== null) this.keepDirMtime(o.parent);
  }

  /**
   * Gives directory `fid` back the mtime the Fsdb (and the holder) has, after a move or removal in
   * it that is Lento's own: the next scan would otherwise journal the mtime as a change to ship.
   */
  private keepDirMtime(fid: string): void {
    const dir = this.set.fsdb.get(fid);
    if (dir) this.holding.at(dir.fid, (p) => setMtimeAt(p, dir.mtimeNs));
  }

  /** Bases a refused record on the holder's version `server` (and a rename on its current place). */
  private rebase(seq: number, server: FsObject | undefined): void {
    const set = this.set;
    const r = set.cml.between(seq, seq)[0];
    if (!r || !server || !("base" in r)) return;
    const out = { ...r, base: server.version } as JournalRecord;
    if (out.op === "rename") Object.assign(out, { parent: server.parent, name: server.name });
    set.transaction(() => set.cml.replace(out));
    this.changed = true;
  }

  /**
   * Moves the replica's object to a conflict name beside its own. A new object (its placement or
   * rename still pending) simply goes there instead; an object the holder has becomes a new object
   * there, and its old fid is left for the holder's version to take.
   */
  private aside(fid: string): string | undefined {
    const set = this.set;
    const o = set.fsdb.get(fid);
    if (!o || o.parent === null) return undefined;
    const name = freeName(set, o.parent, conflictName(o.name, set.replicaId, new Date()));
    noteAside(set, fid, { parent: o.parent, from: o.name, to: name });
    crashPoint();
    this.holding.at(fid, (from) => this.holding.atChild(o.parent!, name, (to) => renameAt(from, to, true)));
    this.keepDirMtime(o.parent);
    crashPoint();
    const pending = set.cml.about(fid);
    const creates = (r: JournalRecord): boolean => r.op === "create" || r.op === "mkdir" || r.op === "symlink" || r.op === "mknod" || r.op === "link";
    // only a new object is placed by its pending records; one the holder has becomes a copy (below)
    const placing = pending.some(creates) ? pending.findLast((r) => creates(r) || r.op === "rename") : undefined;
    set.transaction(() => {
      if (placing?.op === "rename" && o.type !== "d") {
        // A new object moved since its creation: the refused creation is at its first name, so it
        // becomes one creation at the conflict name, where the last move was (its content as it is now).
        set.cml.drop(pending.filter((r) => r.seq < placing.seq).map((r) => r.seq));
        set.cml.replace({ ...placement({ ...o, name }), seq: placing.seq, origin: placing.origin, originSeq: placing.originSeq } as JournalRecord);
        set.fsdb.put({ ...o, name });
      } else if (placing) {
        set.cml.replace((placing.op === "rename" ? { ...placing, newName: name } : { ...placing, name }) as JournalRecord);
        set.fsdb.put({ ...o, name });
      } else {
        // The copy is a new object, journaled here (not only in memory): a run killed before the
        // next round still ships it. The old fid is left for the holder's version to take.
        const copy = set.allocFid();
        set.cml.drop(pending.map((r) => r.seq));
        set.fsdb.delete(fid);
        set.fsdb.put({ ...o, fid: copy, name, version: "" });
        new Journal(set).record(placement({ ...o, fid: copy, name }), () => undefined);
        noteUnapplied(set, fid);
      }
      clearAside(set, fid);
    });
    crashPoint();
    this.changed = true;
    this.pruneCopies(o.parent, o.name);
    return set.fsdb.pathOf(set.fsdb.child(o.parent, name)!.fid);
  }

  /** Keeps at most `keepCopies` conflict copies of one name; older ones leave the tree (they stay in the store). */
  private pruneCopies(parent: string, original: string): void {
    const set = this.set;
    const { stem, ext } = splitExt(original);
    const copies = set.fsdb
      .children(parent)
      .filter((x) => x.type !== "d" && x.name.startsWith(`${stem}.conflict-`) && x.name.endsWith(ext))
      .sort((a, b) => (copyTime(a.name) < copyTime(b.name) ? -1 : 1));
    const journal = new Journal(set);
    for (const x of copies.slice(0, Math.max(0, copies.length - this.opts.keepCopies))) {
      journal.record({ op: "unlink", fid: x.fid, time: Date.now(), parent, name: x.name, base: x.version }, () => {
        this.holding.at(x.fid, unlinkAt);
        set.fsdb.delete(x.fid);
      });
    }
  }

  /** Ships the refused record's object to its place here now, in front of what is pending (see {@link placeWhereNow}). */
  private placeNow(r: JournalRecord): void {
    const { front, superseded } = placeWhereNow(this.set, r);
    this.front.push(...front);
    for (const seq of superseded) this.superseded.add(seq);
  }

  /**
   * Gives an object the holder deleted a new fid, and ships its creation (its directory first, if
   * that is gone too: next round). A revived directory's other entries were deleted (or moved) on
   * the holder with it; those without changes here follow the holder (they are brought to its state
   * after update notification, whose records name them under the directory's old fid).
   */
  private revive(fid: string, settling: Set<string>): void {
    const set = this.set;
    const o = set.fsdb.get(fid);
    if (!o || o.parent === null) return;
    const fresh = set.allocFid();
    trace("revive", () => ({ replica: set.replicaId, fid, fresh }));
    const remap = (f: string): string => (f === fid ? fresh : f);
    // the records gathered so far this round name it too (a file revived before its directory)
    this.front = this.front.map((r) => mapFids(r as JournalRecord, remap) as NewRecord);
    set.transaction(() => {
      set.fsdb.remap(fid, fresh);
      set.cml.remapAll(remap);
      set.fsdb.put({ ...set.fsdb.must(fresh), version: "" });
    });
    // Its other pending records are dropped only with the journaling of its creation (finish): a
    // round that ends early leaves them, and the next exchange revives it again from them.
    for (const r of set.cml.about(fresh)) if (r.op !== "create" && r.op !== "mkdir" && r.op !== "symlink" && r.op !== "mknod") this.superseded.add(r.seq);
    this.front.push(placement(set.fsdb.must(fresh)));
    for (const c of set.fsdb.children(fresh)) if (!set.cml.hasPending(c.fid)) settling.add(c.fid);
    this.changed = true;
  }
}

/** `name`, or `name` with a counter when a sibling already has it (two conflicts in one second). */
function freeName(set: FileSet, parent: string, name: string): string {
  const { stem, ext } = splitExt(name);
  let out = name;
  for (let i = 2; set.fsdb.child(parent, out); i++) out = `${stem}-${i}${ext}`;
  return out;
}

/**
 * Brings each object in `fids` to what the holder has now: placed where the holder has it, with its
 * content, attributes and version stamp, or removed when the holder has none. Objects still pending
 * here are left alone. It runs before update notification (so the holder's later records about a
 * restored directory find it) and after it (for an object whose new place only that created); an
 * object that cannot be restored is a problem only in the second run (`final`), and is listed as
 * unapplied (`unapplied.ts`) so that the next sync tries again; one restored leaves that list.
 * `listed`: the holder's whole Fsdb, when the caller already has it (no `getattr` then).
 */
export async function restoreFromHolder(
  set: FileSet,
  peer: HolderPeer,
  tally: SyncTally,
  fids: Set<string>,
  owner: boolean,
  final: boolean,
  listed?: Map<string, FsObject>,
): Promise<void> {
  const wanted = [...fids].filter((f) => !set.cml.hasPending(f));
  if (wanted.length === 0) return;
  // a caller holding the holder's whole listing (revalidation) is not asked again: absent there is absent
  const held = listed ? new Map(wanted.map((f) => [f, listed.get(f)])) : await holderObjects(peer, wanted);
  // directories this replica lost come first: an object is placed only inside a directory it has
  const lost = await lostDirectories(set, peer, held, listed);
  wanted.unshift(...lost.keys());
  for (const [f, o] of lost) held.set(f, o);
  // a directory the holder no longer has takes what is below it here along (each to the holder's state)
  const below = unchangedBelow(set, wanted.filter((f) => !held.get(f) && set.fsdb.get(f)?.type === "d"), new Set(wanted));
  if (below.length > 0) {
    const theirs = listed ? new Map(below.map((f) => [f, listed.get(f)])) : await holderObjects(peer, below);
    for (const f of below) held.set(f, theirs.get(f));
    wanted.push(...below);
  }
  const applier = new Applier(set, { owner });
  const fetch = holderFetch(applier, peer, tally);
  /** True for an object asked of the holder and not there. */
  const absent = (f: string): boolean => held.has(f) && held.get(f) === undefined;
  // hard links: a new name of an inode the holder shares with an object already here is linked to it
  const byIno = new Map<string, string[]>();
  for (const [f, o] of held) if (o?.type === "f" && o.ino) byIno.set(o.ino, [...(byIno.get(o.ino) ?? []), f]);
  const linkTarget = (fid: string): string | undefined => {
    const s = held.get(fid);
    if (s?.type !== "f" || !s.ino || set.fsdb.get(fid)) return undefined;
    return byIno.get(s.ino)?.find((g) => g !== fid && set.fsdb.get(g)?.hash === s.hash);
  };
  set.startGroup(false);
  try {
    // Rounds while any succeeds: an object whose directory is restored later in a round (the
    // order of `fids` is the order conflicts were found in) gets its place in the next one.
    let left = wanted;
    let errors = new Map<string, unknown>();
    while (left.length > 0) {
      errors = new Map();
      for (const fid of left) {
        try {
          if (await restoreOne(set, applier, fetch, fid, held.get(fid), linkTarget(fid), absent)) tally.recordsApplied++;
          settleUnapplied(set, fid);
          crashPoint();
        } catch (err) {
          errors.set(fid, err);
        }
      }
      if (errors.size === left.length) break;
      left = [...errors.keys()];
    }
    if (final) {
      for (const [fid, err] of errors) {
        const e = err as Error & { code?: string };
        tally.problems.push({ path: set.fsdb.get(fid) ? set.fsdb.pathOf(fid) : `<${fid}>`, code: e.code ?? "IO", message: `bringing in the holder's version: ${e.message}` });
        noteUnapplied(set, fid);
      }
    }
    tally.problems.push(...applier.takeWarnings()); // extended attributes this filesystem refused
    await applier.finishBatch();
  } catch (err) {
    applier.abortBatch();
    throw err;
  }
  set.endGroup();
}

/**
 * The objects below directories `dirs` in this replica's Fsdb, not in `skip` and with no change
 * pending here, deepest first. A directory the holder deleted cannot be removed while its Fsdb rows
 * have entries; those entries were deleted or moved away on the holder with it, and restoring them
 * too does what the holder did.
 */
function unchangedBelow(set: FileSet, dirs: string[], skip: Set<string>): string[] {
  const out = new Set<string>();
  for (const d of dirs) for (const o of set.fsdb.descendantsDeepestFirst(d)) if (!skip.has(o.fid) && !set.cml.hasPending(o.fid)) out.add(o.fid);
  return [...out];
}

/**
 * What this replica lacks of the holder's directories above the objects in `held` — each such
 * directory with everything the holder has below it — parents before their entries. The Fsdb lost
 * them when a replica killed between applying a holder's change and committing it journaled what it
 * found as its own; without them each object below stays unapplied for good (`unknown object`),
 * and the rest of those directories is never offered again (the log has moved past it).
 */
async function lostDirectories(set: FileSet, peer: HolderPeer, held: Map<string, FsObject | undefined>, listed?: Map<string, FsObject>): Promise<Map<string, FsObject>> {
  const missing = (fid: string | null): fid is string => fid !== null && !set.fsdb.get(fid);
  if (![...held.values()].some((o) => o && missing(o.parent))) return new Map();
  const all = listed ?? (await holderListing(peer)).objects;
  // the holder's directories above them that this replica lacks
  const lost = new Set<string>();
  for (const o of held.values()) {
    for (let p = o?.parent ?? null, hops = 0; missing(p) && !lost.has(p) && all.get(p)?.type === "d" && hops < 4096; p = all.get(p)!.parent, hops++) lost.add(p);
  }
  // depth below the outermost lost directory, or undefined for an object outside them
  const depths = new Map<string, number | undefined>();
  const depthOf = (fid: string, hops = 0): number | undefined => {
    if (depths.has(fid)) return depths.get(fid);
    const o = all.get(fid);
    const above = o?.parent == null || hops > 4096 ? undefined : depthOf(o.parent, hops + 1);
    const d = above !== undefined ? above + 1 : lost.has(fid) ? 0 : undefined;
    depths.set(fid, d);
    return d;
  };
  const found = [...all.values()].filter((o) => !set.fsdb.get(o.fid) && !held.has(o.fid) && depthOf(o.fid) !== undefined);
  found.sort((a, b) => depthOf(a.fid)! - depthOf(b.fid)!);
  return new Map(found.map((o) => [o.fid, o]));
}

/**
 * Brings one object to the holder's state `s` (none: removed), as a new name of `linkTo` (another
 * name of its inode, already here) when given; true when that changed anything here. `absent`:
 * true for an object the holder was asked about and does not have.
 */
async function restoreOne(
  set: FileSet,
  applier: Applier,
  fetch: ReturnType<typeof holderFetch>,
  fid: string,
  s: FsObject | undefined,
  linkTo: string | undefined,
  absent: (fid: string) => boolean,
): Promise<boolean> {
  const local = set.fsdb.get(fid) ?? (s ? adoptTwin(set, fid, s, absent) : undefined);
  const stamp = { seq: 0, origin: set.replicaId, originSeq: 0, time: Date.now(), fid };
  let changed = false;
  const run = async (r: JournalRecord, version: string): Promise<void> => {
    const content = r.op === "close" || r.op === "create" ? await fetch(r) : undefined;
    const commit = await applier.apply(r, content);
    set.transaction(() => commit(version));
    changed = true;
  };
  if (!s) {
    if (local && local.parent !== null) await run({ ...stamp, op: local.type === "d" ? "rmdir" : "unlink", parent: local.parent, name: local.name, base: local.version }, "");
    return changed;
  }
  if (!local) {
    const placed = linkTo ? { ...stamp, op: "link", parent: s.parent!, name: s.name, target: linkTo, targetBase: "" } : { ...placement(s), seq: 0, origin: set.replicaId, originSeq: 0 };
    await run(placed as JournalRecord, s.version);
    return changed;
  }
  // Each step keeps the row's own stamp: the holder's goes on only once every step is done. A step
  // refused (an unscanned local edit in place) leaves a row whose stamp still says which holder
  // version its content is, so that edit is later shipped against it and meets the holder's as a
  // conflict, never accepted over a version this replica never had.
  if (local.parent !== null && s.parent !== null && (local.parent !== s.parent || local.name !== s.name)) {
    await run({ ...stamp, op: "rename", parent: local.parent, name: local.name, newParent: s.parent, newName: s.name, base: local.version }, local.version);
  }
  if (s.type === "f" && local.hash !== s.hash) {
    await run({ ...stamp, op: "close", base: local.version, content: { size: s.size, mtimeNs: s.mtimeNs, hash: s.hash } }, local.version);
  }
  const now = set.fsdb.must(fid);
  if (now.mode !== s.mode || now.uid !== s.uid || now.gid !== s.gid || now.mtimeNs !== s.mtimeNs || now.xattrs !== s.xattrs) {
    const attrs = rowAttrs(s);
    // a set made empty on the holder is written as empty, not left out
    if (s.type !== "l" && s.type !== "s" && now.xattrs !== s.xattrs) attrs.xattrs = parseXattrsText(s.xattrs);
    await run({ ...stamp, op: "setattr", base: now.version, attrs }, local.version);
  }
  set.transaction(() => set.fsdb.put({ ...set.fsdb.must(fid), version: s.version }));
  return changed;
}

/**
 * The directory this replica has where the holder has directory `s` (`fid`), taken as the holder's
 * when the holder has no object of its fid and it has no change pending here; else undefined. Both
 * were to be brought to the holder's state, and neither could be: the holder's not made (the name
 * taken), the replica's not removed (its entries still in the Fsdb), and the entries not placed
 * (`unknown object`), on every sync (churn seed 764140753). The directory is the holder's on disk
 * already; only its fid is not (a replica killed between applying the holder's mkdir and
 * recording it journals what it finds as its own).
 */
function adoptTwin(set: FileSet, fid: string, s: FsObject, absent: (fid: string) => boolean): FsObject | undefined {
  if (s.type !== "d" || s.parent === null) return undefined;
  const twin = set.fsdb.child(s.parent, s.name);
  if (!twin || twin.type !== "d" || !absent(twin.fid) || set.cml.hasPending(twin.fid)) return undefined;
  set.transaction(() => {
    set.fsdb.remap(twin.fid, fid);
    set.cml.remapAll((f) => (f === twin.fid ? fid : f));
  });
  return set.fsdb.must(fid);
}
