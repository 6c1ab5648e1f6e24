/**
 * The replica's role played at the far end of a connection: a holder that reaches this host (a
 * push mirror, `intermezzo-sync --mirror /srv/master web1:/srv/www`) asks it to `sync` as its
 * replica, and the replica's work — scanning its tree, applying the holder's updates, keeping its
 * own Fsdb and CML — runs here, beside its tree. Only records, signatures and deltas cross the wire:
 * this side reaches the holder over the same connection, as any replica does
 * ({@link WirePeer.over}), and answers with its sync report.
 *
 * With `live` (the holder runs `--watch`, `push-live.ts`) this side keeps the replica live — the
 * same attachment a pull-form `--watch` runs (`attachment.ts`), its holder reached over this
 * connection — and tells the holder what it does in one-way `live` messages. The connection is
 * the attachment's only way to its holder: when it ends, the attachment stops (the holder
 * reconnects, and a new `serve` takes over).
 */
import { ImzError, toWireError } from "../errors.js";
import type { Connection, Handler } from "../ssh/connection.js";
import type { Static } from "../schema.js";
import { runLive } from "./attachment.js";
import type { RootResolver } from "./peer.js";
import { LiveEvent, Requests, check } from "./protocol.js";
import { syncFileSets } from "./sync.js";
import { WirePeer } from "./wire-peer.js";

/** A `live` message without its op. */
type LiveMessage = Static<typeof LiveEvent> extends infer E ? (E extends { op: "live" } ? Omit<E, "op"> : never) : never;

/**
 * The `sync` and `live` handlers for a connection whose handler table is `table` (the replica's
 * backfetch and break answers are added to it). One of them, once, per connection. `close` stops
 * a live replica and waits until it has let go of its file set (call it when the connection ends).
 */
export function replicaHandlers(conn: () => Connection, table: Record<string, Handler>, resolveRoot: RootResolver): { handlers: Record<string, Handler>; close: () => Promise<void> } {
  let started = false;
  const begin = (op: string): void => {
    if (started) throw new ImzError("USAGE", `${op} called after a sync or live request on one connection`);
    started = true;
  };
  const stop = new AbortController();
  let running: Promise<unknown> = Promise.resolve();
  const handlers: Record<string, Handler> = {
    sync: async (h) => {
      const req = check(Requests.sync, h, "sync request");
      begin("sync");
      const peer = WirePeer.over(conn(), table);
      return syncFileSets(resolveRoot(undefined), peer, req.options);
    },
    live: async (h) => {
      const req = check(Requests.live, h, "live request");
      begin("live");
      const c = conn();
      void c.closed.then(() => stop.abort());
      const tell = (m: LiveMessage): void => c.message({ op: "live", ...m });
      const run = runLive(
        resolveRoot(undefined),
        {
          sync: req.options,
          connect: async () => WirePeer.over(c, table),
          onFirst: (report) => tell({ event: "first", report }),
          onExchange: (tally) => tell({ event: "exchange", tally }),
          onState: (s) => tell({ event: "state", state: s.state, ...(s.error !== undefined ? { error: s.error } : {}) }),
          onError: (err) => tell({ event: "error", error: toWireError(err) }),
        },
        stop.signal,
      );
      running = run.catch(() => undefined);
      await run;
      return null;
    },
  };
  return {
    handlers,
    close: async () => {
      stop.abort();
      await running;
    },
  };
}
