/**
 * `--mirror`: DEST becomes an exact copy of SRC. After SRC's own changes are reintegrated, every
 * change the holder has that SRC did not make (DEST-side edits, other replicas) is answered with a
 * *corrective* record that puts SRC's state back, shipped with the holder told to keep each version it
 * destroys under `.intermezzo/conflicts/`. The corrective plan is a pure function of what the holder's
 * log says and what SRC's Fsdb holds.
 */
import type { FileSet } from "../journal/fileset.js";
import type { FsObject, ObjectType } from "../journal/fsdb.js";
import { Journal } from "../journal/journal.js";
import type { JournalRecord, LoggedRecord, NewRecord } from "../journal/records.js";
import { parseXattrsText } from "../journal/xattrs.js";
import { rowAttrs } from "../filter/object-stat.js";
import type { SyncTally } from "./client.js";
import { reintegrate } from "./reintegration.js";
import type { HolderPeer } from "./peer.js";
import { holderListing, holderObjects } from "./resolution.js";
import { MAX_PAGE } from "./server.js";
import { settleUnapplied, unapplied } from "./unapplied.js";

/** What the holder's log says of one object since SRC last synced. */
export interface HolderState {
  exists: boolean;
  type: ObjectType;
  parent: string;
  name: string;
  version: string;
  contentChanged: boolean;
  attrsChanged: boolean;
  /** Order of first appearance (creation order, for deleting in reverse). */
  order: number;
}

/** Folds the holder's records (not SRC's own) into a per-object summary. */
export function holderStates(records: LoggedRecord[], self: string, conflicted: JournalRecord[]): Map<string, HolderState> {
  const s = new Map<string, HolderState>();
  let order = 0;
  const at = (fid: string, init: Omit<HolderState, "order">): HolderState => {
    let st = s.get(fid);
    if (!st) s.set(fid, (st = { ...init, order: order++ }));
    return st;
  };
  for (const { record: r, version } of records) {
    if (r.origin === self) {
      // SRC's own change (a conflict it won, say): no change to answer, but the holder's state moved
      const st = s.get(r.fid);
      if (st && (r.op === "unlink" || r.op === "rmdir")) st.exists = false;
      if (st && r.op === "rename") Object.assign(st, { parent: r.newParent, name: r.newName });
      if (st) st.version = version;
      continue;
    }
    switch (r.op) {
      case "create":
      case "mkdir":
      case "symlink":
      case "mknod":
      case "link": {
        const type = r.op === "mkdir" ? "d" : r.op === "symlink" ? "l" : r.op === "mknod" ? "s" : "f";
        Object.assign(at(r.fid, { exists: true, type, parent: r.parent, name: r.name, version, contentChanged: true, attrsChanged: true }), {
          exists: true, type, parent: r.parent, name: r.name, version,
        });
        break;
      }
      case "unlink":
      case "rmdir":
        Object.assign(at(r.fid, { exists: false, type: r.op === "rmdir" ? "d" : "f", parent: r.parent, name: r.name, version, contentChanged: false, attrsChanged: false }), { exists: false });
        break;
      case "rename": {
        const st = at(r.fid, { exists: true, type: "f", parent: r.newParent, name: r.newName, version, contentChanged: false, attrsChanged: false });
        Object.assign(st, { parent: r.newParent, name: r.newName, version });
        if (r.replaced) {
          const rep = s.get(r.replaced);
          if (rep) rep.exists = false;
          else at(r.replaced, { exists: false, type: "f", parent: r.newParent, name: r.newName, version: "", contentChanged: false, attrsChanged: false });
        }
        break;
      }
      case "setattr":
        Object.assign(at(r.fid, { exists: true, type: "f", parent: "", name: "", version, contentChanged: false, attrsChanged: true }), { version, attrsChanged: true });
        break;
      case "close":
        Object.assign(at(r.fid, { exists: true, type: "f", parent: "", name: "", version, contentChanged: true, attrsChanged: false }), { version, contentChanged: true });
        break;
    }
  }
  for (const r of conflicted) {
    // SRC's refused change: the holder still has the object as SRC last knew it (or not at all).
    const seen = s.get(r.fid);
    if (seen) {
      seen.contentChanged = true;
      seen.attrsChanged = true;
      continue;
    }
    const known = !(r.op === "create" || r.op === "mkdir" || r.op === "symlink" || r.op === "mknod" || r.op === "link");
    const place = "parent" in r ? { parent: r.parent, name: r.name } : { parent: "", name: "" };
    at(r.fid, { exists: known, type: "f", ...place, version: "base" in r ? r.base : "", contentChanged: known, attrsChanged: known });
  }
  return s;
}

/**
 * The records that turn the holder's state of each object back into SRC's (`desired`), ordered so
 * the holder can replay them: file deletions free names, renames back, directory deletions (deepest
 * last-created first), re-creations (shallowest first), then content and attributes.
 */
export function correctives(states: Map<string, HolderState>, desired: (fid: string) => FsObject | undefined, depth: (fid: string) => number): NewRecord[] {
  const time = Date.now();
  const delFiles: NewRecord[] = [];
  const delDirs: Array<[number, NewRecord]> = [];
  const moves: NewRecord[] = [];
  const creates: Array<[number, NewRecord]> = [];
  const updates: NewRecord[] = [];
  for (const [fid, st] of states) {
    const want = desired(fid);
    if (st.exists && !want) {
      const rec = { op: st.type === "d" ? "rmdir" : "unlink", fid, time, parent: st.parent, name: st.name, base: st.version } as NewRecord;
      if (st.type === "d") delDirs.push([st.order, rec]);
      else delFiles.push(rec);
      continue;
    }
    if (!want) continue;
    const attrs = rowAttrs(want);
    if (!st.exists) {
      const placed = { fid, time, parent: want.parent!, name: want.name };
      const rec: NewRecord =
        want.type === "d"
          ? { op: "mkdir", ...placed, attrs }
          : want.type === "l"
            ? { op: "symlink", ...placed, target: want.target ?? "", attrs }
            : want.type === "s"
              ? { op: "mknod", ...placed, special: want.target ?? "p", attrs }
              : { op: "create", ...placed, attrs, content: { size: want.size, mtimeNs: want.mtimeNs, hash: want.hash } };
      creates.push([depth(fid), rec]);
      continue;
    }
    // A rename changes the stamp, but the holder checks bases against the version before this
    // connection touched the object, so every corrective of one object carries the same base.
    const base = st.version;
    if (st.parent !== "" && (st.parent !== want.parent || st.name !== want.name)) {
      moves.push({ op: "rename", fid, time, parent: st.parent, name: st.name, newParent: want.parent!, newName: want.name, base });
    }
    if (want.type === "f" && st.contentChanged) {
      updates.push({ op: "close", fid, time, base, content: { size: want.size, mtimeNs: want.mtimeNs, hash: want.hash } });
    } else if (st.attrsChanged) {
      // SRC's whole set, an empty one included: the holder's extra attributes go
      const xattrs = want.type === "f" || want.type === "d" ? { xattrs: parseXattrsText(want.xattrs) } : {};
      updates.push({ op: "setattr", fid, time, base, attrs: { ...attrs, ...xattrs } });
    }
  }
  return [
    ...delFiles,
    ...moves,
    ...delDirs.sort((a, b) => b[0] - a[0]).map(([, r]) => r),
    ...creates.sort((a, b) => a[0] - b[0]).map(([, r]) => r),
    ...updates,
  ];
}

/**
 * Reads the holder's whole log after `since` (the changes a mirror must answer); `compacted` when
 * the holder no longer has it (see {@link listedStates}).
 */
export async function holderChanges(peer: HolderPeer, since: number): Promise<{ records: LoggedRecord[]; volume: number; compacted: boolean }> {
  const records: LoggedRecord[] = [];
  let volume = since;
  for (;;) {
    const page = await peer.updates(since, MAX_PAGE);
    if (page.compacted) return { records: [], volume: page.volume, compacted: true };
    records.push(...page.records);
    volume = page.volume;
    const last = page.records.at(-1);
    if (last) since = last.record.seq;
    if (!page.more) return { records, volume, compacted: false };
  }
}

/**
 * The holder's state of every object, compared with SRC's, when the log since SRC's last run was
 * compacted away (revalidation): every holder object that differs from SRC's, and every object of
 * SRC's the holder lacks, is a change to answer.
 */
async function listedStates(set: FileSet, peer: HolderPeer): Promise<Map<string, HolderState>> {
  const s = new Map<string, HolderState>();
  const held = (await holderListing(peer)).objects;
  for (const o of held.values()) {
    const mine = set.fsdb.get(o.fid);
    if (o.parent === null) continue;
    const content = !mine || mine.hash !== o.hash || mine.target !== o.target;
    const attrs = !mine || mine.mode !== o.mode || mine.uid !== o.uid || mine.gid !== o.gid || mine.xattrs !== o.xattrs || (o.type !== "d" && mine.mtimeNs !== o.mtimeNs);
    const moved = !mine || mine.parent !== o.parent || mine.name !== o.name;
    if (content || attrs || moved) {
      s.set(o.fid, { exists: true, type: o.type, parent: o.parent, name: o.name, version: o.version, contentChanged: content, attrsChanged: attrs, order: s.size });
    }
  }
  for (const o of set.fsdb.every()) {
    if (!held.has(o.fid) && o.parent !== null) s.set(o.fid, { exists: false, type: o.type, parent: o.parent, name: o.name, version: "", contentChanged: true, attrsChanged: true, order: s.size });
  }
  return s;
}

/**
 * Reverts on the holder every change SRC did not make: journals the correctives in SRC's CML
 * (replacing its refused records, whose intent the correctives carry) and reintegrates them with
 * the holder keeping each destroyed version.
 */
export async function mirrorRevert(set: FileSet, peer: HolderPeer, tally: SyncTally, owner: boolean): Promise<void> {
  const refused = set.cml.all();
  const { records, compacted } = await holderChanges(peer, Number(set.meta("last_seen")));
  const states = compacted ? await listedStates(set, peer) : holderStates(records, set.replicaId, refused);
  // Objects SRC never took in the holder's version of (a two-way run's failed update): the holder's
  // change is before last_seen, out of the log just read, so each is reverted as if changed there.
  const listed = unapplied(set);
  for (const fid of listed) {
    if (!states.has(fid)) states.set(fid, { exists: true, type: "f", parent: "", name: "", version: "", contentChanged: true, attrsChanged: true, order: states.size });
  }
  // A state only edited (close, setattr) has no place in the log: ask the holder where it is now.
  const unplaced = [...states].filter(([, st]) => st.exists && st.parent === "").map(([fid]) => fid);
  for (const [fid, o] of await holderObjects(peer, unplaced)) {
    const st = states.get(fid)!;
    if (o) Object.assign(st, { parent: o.parent ?? "", name: o.name, type: o.type, version: o.version }); // the root stays unplaced
    else st.exists = false;
  }
  const depth = (fid: string): number => (set.fsdb.get(fid) ? set.fsdb.pathOf(fid).split("/").length : 0);
  const plan = correctives(states, (fid) => set.fsdb.get(fid), depth);
  const journal = new Journal(set);
  set.transaction(() => {
    set.cml.drop(refused.map((r) => r.seq));
    for (const rec of plan) journal.record(rec, () => undefined);
  });
  await reintegrate(set, peer, tally, owner, "mirror");
  // a corrective the holder refused stays pending in the CML, which carries its intent from here
  for (const fid of listed) settleUnapplied(set, fid);
  const after = await peer.updates(Number.MAX_SAFE_INTEGER, 1);
  set.setMeta("last_seen", String(after.volume));
}
