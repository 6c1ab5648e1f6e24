/**
 * The replica's role played at the far end of a connection: a holder that reaches this host (a
 * push mirror, `intermezzo-sync --mirror /srv/master web1:/srv/www`) asks it to `sync` as its
 * replica, and the replica's work — scanning its tree, applying the holder's updates, keeping its
 * own Fsdb and CML — runs here, beside its tree. Only records, signatures and deltas cross the wire:
 * this side reaches the holder over the same connection, as any replica does
 * ({@link WirePeer.over}), and answers with its sync report.
 */
import { ImzError } from "../errors.js";
import type { Connection, Handler } from "../ssh/connection.js";
import type { RootResolver } from "./peer.js";
import { Requests, check } from "./protocol.js";
import { syncFileSets } from "./sync.js";
import { WirePeer } from "./wire-peer.js";

/**
 * The `sync` handler for a connection whose handler table is `table` (the replica's backfetch
 * answers are added to it). One sync per connection.
 */
export function replicaHandlers(conn: () => Connection, table: Record<string, Handler>, resolveRoot: RootResolver): Record<string, Handler> {
  let started = false;
  return {
    sync: async (h) => {
      const req = check(Requests.sync, h, "sync request");
      if (started) throw new ImzError("USAGE", "sync called twice on one connection");
      started = true;
      const peer = WirePeer.over(conn(), table);
      return syncFileSets(resolveRoot(undefined), peer, req.options);
    },
  };
}
