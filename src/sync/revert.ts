/**
 * A replica that its holder keeps an exact copy (`intermezzo-sync --mirror SRC DEST` where SRC, the
 * master, holds): the replica's own changes are not reintegrated but reverted — the paper's "server
 * copy wins and the administrator is notified". Each object a pending record touched is brought back
 * to the holder's state; before a version of the replica's is replaced or removed, it is stored under
 * `.intermezzo/conflicts/`, logged in `conflicts.log` and reported as a `mirror/revert` conflict
 * (exit 3, the notify hook). The CML is emptied only after the versions are kept.
 */
import { logConflict, newEntryId, storeVersion, versionInfo, type ConflictEntry } from "../conflict/store.js";
import type { FileSet } from "../journal/fileset.js";
import type { FsObject } from "../journal/fsdb.js";
import type { JournalRecord } from "../journal/records.js";
import type { SyncTally } from "./client.js";
import { describePath } from "./client.js";
import { Holding } from "./holding.js";
import type { HolderPeer } from "./peer.js";
import { differs, holderListing, holderObjects } from "./resolution.js";
import { unapplied } from "./unapplied.js";

/**
 * A mirror joining its holder (a first run, or a re-join) finds objects it already has as the
 * holder has them (a tree copied before, by rsync say): those are adopted — renamed to the holder's
 * fid and stamped with its version, their pending create dropped — instead of being reverted
 * (stored, removed and fetched again). Matching is by path, type and content hash. Returns the
 * adopted objects (their attributes are still brought to the holder's).
 */
export async function adoptIdentical(set: FileSet, peer: HolderPeer): Promise<Set<string>> {
  const held = (await holderListing(peer)).objects;
  const byPlace = new Map<string, FsObject>();
  for (const o of held.values()) if (o.parent !== null) byPlace.set(`${o.parent}/${o.name}`, o);
  const adopted = new Map<string, string>();
  const dropped: number[] = [];
  const adopt = (fid: string): string => adopted.get(fid) ?? fid;
  set.transaction(() => {
    // CML order: a directory's create comes before its entries', so their parent is already adopted
    for (const r of set.cml.all()) {
      if (r.op !== "create" && r.op !== "mkdir" && r.op !== "symlink" && r.op !== "mknod") continue;
      const local = set.fsdb.get(r.fid);
      const theirs = byPlace.get(`${adopt(r.parent)}/${r.name}`);
      if (!local || !theirs || local.parent !== r.parent || local.name !== r.name || !same(local, theirs)) continue;
      set.fsdb.remap(r.fid, theirs.fid);
      set.fsdb.put({ ...set.fsdb.must(theirs.fid), version: theirs.version });
      adopted.set(r.fid, theirs.fid);
      dropped.push(r.seq);
    }
    set.cml.drop(dropped);
    set.cml.remapAll(adopt);
  });
  return new Set(adopted.values());
}

/** A directory placed or set up differently than on the holder (its mtime aside). */
function movedOrChanged(a: FsObject, b: FsObject): boolean {
  return a.parent !== b.parent || a.name !== b.name || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.xattrs !== b.xattrs;
}

/** The same object on both sides, attributes aside. */
function same(a: FsObject, b: FsObject): boolean {
  return a.type === b.type && (a.type === "d" || (a.type === "l" ? a.target === b.target : a.hash === b.hash && a.hash !== ""));
}

/** The objects `records` change (a rename's replaced object included), in order of first mention. */
export function touchedObjects(records: JournalRecord[]): string[] {
  const out = new Set<string>();
  for (const r of records) {
    out.add(r.fid);
    if (r.op === "rename" && r.replaced !== undefined) out.add(r.replaced);
  }
  return [...out];
}

/**
 * Keeps and reports the replica's version of every object its CML changed, drops the CML, and
 * returns the objects to bring to the holder's state (with {@link restoreFromHolder}, around update
 * notification). Objects listed as unapplied are brought back too.
 */
export async function revertLocalChanges(set: FileSet, peer: HolderPeer, tally: SyncTally): Promise<Set<string>> {
  const records = set.cml.all();
  const fids = touchedObjects(records);
  const held = await holderObjects(peer, fids);
  const holding = new Holding(set);
  const time = new Date().toISOString();
  const first = new Map<string, JournalRecord>();
  for (const r of records) if (!first.has(r.fid)) first.set(r.fid, r);
  for (const fid of fids) {
    const local = set.fsdb.get(fid);
    const server = held.get(fid);
    const r = first.get(fid);
    if (!local && !server) continue; // made and removed again here: nothing to revert
    // a directory's mtime follows its entries (reported one by one): only its own changes count
    if (local?.type === "d" && server && !movedOrChanged(local, server)) continue;
    const path = local ? set.fsdb.pathOf(fid) : r ? describePath(set, r) : `<${fid}>`;
    const entry: ConflictEntry = {
      id: newEntryId(), time, path, kind: "mirror/revert", status: "auto",
      detail: local ? (server ? "changed on this mirror" : "made on this mirror") : "deleted on this mirror",
      policy: "server", winner: "server", replica: set.replicaId, holder: set.meta("holder_replica"),
      client: versionInfo(local), server: versionInfo(server),
    };
    // A directory's own state is attributes and place; its entries are kept one by one.
    if (local && local.type !== "d" && differs(local, server)) {
      const stored = storeVersion(set, local, () => holding.openRead(fid), time);
      if (stored) Object.assign(entry, { kept: "client", stored });
    }
    logConflict(set, entry);
    tally.conflicts.push({
      path, kind: "mirror/revert", detail: entry.detail, side: "replica", policy: "server", winner: "server", status: "auto", id: entry.id,
      ...(entry.stored ? { stored: entry.stored } : {}),
    });
  }
  set.transaction(() => set.cml.drop(records.map((r) => r.seq)));
  return new Set([...fids, ...unapplied(set)]);
}
