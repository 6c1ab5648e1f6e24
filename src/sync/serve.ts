/**
 * Serving a file set over a byte stream: the holder's side of the wire protocol. Every request
 * header is schema-checked before it reaches {@link LentoServer}; content the server backfetches is
 * requested from the client over the same connection.
 */
import type { Readable, Writable } from "node:stream";
import { ImzError } from "../errors.js";
import { diskFullError } from "../journal/disk-full.js";
import { Connection, type Handler } from "../ssh/connection.js";
import type { HolderPeer, LiveReplica, RootResolver } from "./peer.js";
import { Replies, Requests, SOFTWARE, check } from "./protocol.js";
import { LentoServer, type ServerOptions } from "./server.js";
import { replicaHandlers } from "./replica-role.js";
import { requestBatch, requestContent, sendBatch, sendContent } from "./content-wire.js";


/**
 * The holder's request handlers for one connection: the {@link HolderPeer} operations, each header
 * schema-checked, served by a {@link LentoServer} on the root `resolveRoot` names at `attach`
 * (and used only once that attach has completed). Every request is counted while it runs: a `close`
 * waits for those in flight before closing the file set, and later requests get `USAGE`. `close()`
 * does the same when the connection ends.
 */
export function holderHandlers(conn: () => Connection, resolveRoot: RootResolver, opts: ServerOptions): { handlers: Record<string, Handler>; close: () => Promise<void> } {
  let server: LentoServer | undefined;
  let opening = false;
  let closed = false;
  const inFlight = new Set<Promise<unknown>>();
  const need = (): HolderPeer => {
    if (closed) throw new ImzError("USAGE", "the file set was closed on this connection", { hint: "the peer sent a request after close; nothing was done" });
    if (!server) throw new ImzError("USAGE", "attach must come first", { hint: "the peer sent a request before its attach completed; nothing was done" });
    return server;
  };
  const closeAll = async (lastSeen?: number): Promise<void> => {
    closed = true;
    await Promise.allSettled([...inFlight]);
    await server?.close(lastSeen);
  };
  const handlers: Record<string, Handler> = {
    attach: async (h) => {
      const req = check(Requests.attach, h, "attach request");
      // a second attach must not replace (and so leak, still locked) the file set the first one opened
      if (server || opening || closed) throw new ImzError("USAGE", "attach called twice on one connection");
      opening = true;
      const s = new LentoServer(resolveRoot(req.fileset), opts);
      try {
        const r = await s.attach(req);
        server = s;
        return r;
      } catch (err) {
        await s.close();
        throw err;
      } finally {
        opening = false;
      }
    },
    applied: async (h) => {
      const req = check(Requests.applied, h, "applied request");
      return need().applied(req.replica, req.fromSeq);
    },
    reintegrate: async (h) => {
      const req = check(Requests.reintegrate, h, "reintegrate request");
      return need().reintegrate(
        req.records,
        (fid, signature) => requestContent(conn(), "backfetch", fid, signature),
        req.keep,
        (items) => requestBatch(conn(), "backfetchBatch", items),
      );
    },
    updates: async (h) => {
      const req = check(Requests.updates, h, "updates request");
      return need().updates(req.since, req.limit);
    },
    fetch: async (h, ctx) => {
      const req = check(Requests.fetch, h, "fetch request");
      return sendContent(ctx, req, (signature) => need().fetch(req.fid, signature, req.hash));
    },
    fetchBatch: async (h, ctx) => {
      const req = check(Requests.fetchBatch, h, "fetchBatch request");
      return sendBatch(ctx, need().fetchBatch(req.items));
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
      await need().watch(liveReplica(conn));
      return null;
    },
    permit: async (h) => {
      const req = check(Requests.permit, h, "permit request");
      return need().permit(req.fids);
    },
  };
  for (const [op, handler] of Object.entries(handlers)) {
    handlers[op] = (h, ctx) => {
      const run = handler(h, ctx);
      inFlight.add(run);
      void run.finally(() => inFlight.delete(run)).catch(() => undefined);
      return run;
    };
  }
  handlers["close"] = async (h) => {
    const req = check(Requests.close, h, "close request");
    await closeAll(req.lastSeen);
    return null;
  };
  return { handlers, close: () => closeAll() };
}

/** The live replica at the other end of a connection: the holder's requests to it, answers checked. */
function liveReplica(conn: () => Connection): LiveReplica {
  return {
    breakCallback: async (b) => void check(Replies.break, await conn().call({ op: "break", ...b }), "break reply"),
    revoke: async (fids) => void check(Replies.revoke, await conn().call({ op: "revoke", fids }), "revoke reply"),
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
 * `remote-replica.ts`; or to stay live as its replica, `live`), and this side then runs the
 * replica's work here, beside its tree (a live replica is stopped before this resolves).
 */
export async function serveConnection(input: Readable, output: Writable, resolveRoot: RootResolver, opts: ServerOptions): Promise<Error | undefined> {
  const holder = holderHandlers(() => conn, resolveRoot, opts);
  const handlers: Record<string, Handler> = { ...holder.handlers };
  const replica = replicaHandlers(() => conn, handlers, resolveRoot);
  Object.assign(handlers, replica.handlers);
  // Nothing but a coded error crosses the wire: an internal failure is logged here, answered as REMOTE_ERROR.
  for (const [op, handler] of Object.entries(handlers)) {
    handlers[op] = (h, ctx) =>
      handler(h, ctx).catch((err: unknown) => {
        throw coded(op, err);
      });
  }
  const conn = new Connection(input, output, { handlers });
  try {
    await conn.start({ software: SOFTWARE, role: "holder" });
  } catch {
    // a failed handshake: `closed` says why; the server just cleans up
  }
  try {
    return await conn.closed;
  } finally {
    await replica.close();
    await holder.close();
    conn.close();
    // Stop reading: after a protocol error the peer may keep its side open, and a `serve --stdio`
    // child would otherwise linger on its stdin until the peer hangs up.
    input.destroy();
  }
}

/**
 * What a failed request answers: a coded error as it is, a full disk as `DISK_FULL`, an errno error
 * as `IO` (its code and message); anything else is a defect of this side, logged on its stderr and
 * answered as `REMOTE_ERROR` without its internals.
 */
function coded(op: string, err: unknown): unknown {
  const e = diskFullError(err);
  if (e instanceof ImzError) return e;
  const errno = e as NodeJS.ErrnoException;
  if (typeof errno?.code === "string" && typeof errno.syscall === "string") return e;
  process.stderr.write(`intermezzo serve: internal error in '${op}': ${errno?.stack ?? String(e)}\n`);
  return new ImzError("REMOTE_ERROR", `the holder failed on '${op}' (an internal error, logged on its side)`, { hint: "report it with the holder's log; rerun to retry" });
}
