/**
 * Serving a file set over a byte stream: the holder's side of the wire protocol. Every request
 * header is schema-checked before it reaches {@link LentoServer}; content the server backfetches is
 * requested from the client over the same connection.
 */
import type { Readable, Writable } from "node:stream";
import { ImzError } from "../errors.js";
import { Connection, type Handler } from "../ssh/connection.js";
import type { HolderPeer, RootResolver } from "./peer.js";
import { Requests, SOFTWARE, check } from "./protocol.js";
import { LentoServer, type ServerOptions } from "./server.js";
import { replicaHandlers } from "./replica-role.js";
import { requestContent, sendContent } from "./content-wire.js";


/**
 * The holder's request handlers for one connection: the {@link HolderPeer} operations, each header
 * schema-checked, served by a {@link LentoServer} on the root `resolveRoot` names at `attach`.
 * `server()` is that server once attached (to close it when the connection ends).
 */
export function holderHandlers(conn: () => Connection, resolveRoot: RootResolver, opts: ServerOptions): { handlers: Record<string, Handler>; server: () => LentoServer | undefined } {
  let server: LentoServer | undefined;
  const need = (): HolderPeer => {
    if (!server) throw new ImzError("USAGE", "attach must come first", { hint: "the peer sent a request before attaching; nothing was done" });
    return server;
  };
  const handlers: Record<string, Handler> = {
    attach: async (h) => {
      const req = check(Requests.attach, h, "attach request");
      // a second attach must not replace (and so leak, still locked) the file set the first one opened
      if (server) throw new ImzError("USAGE", "attach called twice on one connection");
      server = new LentoServer(resolveRoot(req.fileset), opts);
      return server.attach(req);
    },
    applied: async (h) => {
      const req = check(Requests.applied, h, "applied request");
      return need().applied(req.replica, req.fromSeq);
    },
    reintegrate: async (h) => {
      const req = check(Requests.reintegrate, h, "reintegrate request");
      return need().reintegrate(req.records, (fid, signature) => requestContent(conn(), "backfetch", fid, signature), req.keep);
    },
    updates: async (h) => {
      const req = check(Requests.updates, h, "updates request");
      return need().updates(req.since, req.limit);
    },
    fetch: async (h, ctx) => {
      const req = check(Requests.fetch, h, "fetch request");
      return sendContent(ctx, req, (signature) => need().fetch(req.fid, signature, req.hash));
    },
    getattr: async (h) => {
      const req = check(Requests.getattr, h, "getattr request");
      return need().getattr(req.fids);
    },
    objects: async (h) => {
      const req = check(Requests.objects, h, "objects request");
      return need().objects(req.after, req.limit);
    },
    presign: async (h) => {
      const req = check(Requests.presign, h, "presign request");
      await need().presign(req.fids);
      return null;
    },
    watch: async (h) => {
      check(Requests.watch, h, "watch request");
      await need().watch(pusher(conn));
      return null;
    },
    close: async (h) => {
      const req = check(Requests.close, h, "close request");
      await server?.close(req.lastSeen);
      return null;
    },
  };
  return { handlers, server: () => server };
}

/**
 * Update notification over a connection: sends the newest volume stamp as a one-way message, one at
 * a time, waiting while the stream is congested (a slow or stalled replica): what grows meanwhile is
 * coalesced into the next message, so a stalled replica costs one pending stamp, never a queue, and
 * never delays the others (each connection has its own).
 */
function pusher(conn: () => Connection): (volume: number) => void {
  let latest = 0;
  let sent = 0;
  let sending = false;
  return (volume) => {
    latest = Math.max(latest, volume);
    if (sending) return;
    sending = true;
    void (async () => {
      try {
        while (sent < latest) {
          await conn().whenDrained();
          sent = latest;
          conn().message({ op: "volume", volume: sent });
        }
      } finally {
        sending = false;
      }
    })();
  };
}

/**
 * Serves one connection until it closes. Resolves when the peer has gone (the server's file set is
 * closed and unlocked whatever happened), with why the connection ended: `CONNECTION_LOST` when the
 * peer simply hung up, a `FRAME_*`/`HANDSHAKE_FAILED`/`PROTOCOL_VERSION`/`SESSION_UNKNOWN` error when
 * it broke the protocol (for the caller to log; the peer only sees the stream end).
 *
 * Either role: the peer usually attaches as a replica of the file set at the root (this side
 * holds), but a peer that holds the file set asks this side to sync as its replica (`sync`, see
 * `remote-replica.ts`), and this side then runs the replica's work here, beside its tree.
 */
export async function serveConnection(input: Readable, output: Writable, resolveRoot: RootResolver, opts: ServerOptions): Promise<Error | undefined> {
  const holder = holderHandlers(() => conn, resolveRoot, opts);
  const handlers: Record<string, Handler> = { ...holder.handlers };
  Object.assign(handlers, replicaHandlers(() => conn, handlers, resolveRoot));
  const conn = new Connection(input, output, { handlers });
  try {
    await conn.start({ software: SOFTWARE, role: "holder" });
  } catch {
    // a failed handshake: `closed` says why; the server just cleans up
  }
  try {
    return await conn.closed;
  } finally {
    await holder.server()?.close();
    conn.close();
    // Stop reading: after a protocol error the peer may keep its side open, and a `serve --stdio`
    // child would otherwise linger on its stdin until the peer hangs up.
    input.destroy();
  }
}
