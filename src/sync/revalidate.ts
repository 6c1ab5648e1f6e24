/**
 * Revalidation: the paper's fallback when a replica's volume stamp does not match and the log that
 * would bring it forward is gone (the holder compacted it below the replica's last-seen stamp, a
 * replica away for longer than the holder keeps its log). The replica compares every object with
 * the holder's current one and brings each to the holder's state — placed, with its content and
 * attributes, or removed when the holder has none — except those with pending local changes, which
 * reintegrate as usual. It costs a listing of the holder's Fsdb, and content only where it differs.
 */
import type { FileSet } from "../journal/fileset.js";
import type { SyncTally } from "./client.js";
import type { HolderPeer } from "./peer.js";
import { holderListing, restoreFromHolder } from "./resolution.js";

/**
 * Brings this replica to the holder's current state, object by object. Returns the volume stamp the
 * holder's listing reflects: the replica then applies the log after it.
 */
export async function revalidate(set: FileSet, peer: HolderPeer, tally: SyncTally, owner: boolean): Promise<number> {
  const { objects, volume } = await holderListing(peer);
  // this replica's objects the holder no longer has are removed (absent from the listing)
  const fids = new Set([...objects.keys(), ...[...set.fsdb.every()].map((o) => o.fid)]);
  await restoreFromHolder(set, peer, tally, fids, owner, true, objects);
  return volume;
}
