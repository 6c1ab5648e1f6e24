/**
 * Serving a file set over a byte stream: the holder's side of the wire protocol. Every request
 * header is schema-checked before it reaches {@link LentoServer}; content the server backfetches is
 * requested from the client over the same connection.
 */
import type { Readable, Writable } from "node:stream";
import { ImzError } from "../errors.js";
import { diskFullError } from "../journal/disk-full.js";
import { Connection, type Handler, type RequestContext } from "../ssh/connection.js";
import type { HolderPeer } from "./peer.js";
import { Replies, Requests, SOFTWARE, check } from "./protocol.js";
import { LentoServer, type ServerOptions } from "./server.js";
import { readSignature } from "./delta-transfer.js";
import type { ContentStream } from "./transfer.js";

/** Picks the holding location for an attach (the `--stdio DIR` root, or a listener's named file set). */
export type RootResolver = (fileset: string | undefined) => string;

/**
 * Answers a `fetch` or `backfetch`: reads the requester's signature upload when the header says
 * one follows, streams `read`'s bytes (a delta against it, or the whole content) as data frames and
 * returns the content's description as the reply.
 */
export async function sendContent(ctx: RequestContext, req: { signature?: boolean }, read: (signature?: Buffer) => ContentStream): Promise<unknown> {
  const stream = read(req.signature === true ? await readSignature(ctx.data) : undefined);
  for await (const chunk of stream.chunks) await ctx.send(chunk);
  ctx.endData();
  return stream.done;
}

/** Sends a `fetch` or `backfetch` for `fid`, with `signature` as its upload when given. */
export function requestContent(conn: Connection, op: "fetch" | "backfetch", fid: string, signature?: Buffer): ContentStream {
  const r = conn.request({ op, fid, ...(signature ? { signature: true } : {}) }, signature ? once(signature) : undefined);
  const done = r.result.then((v) => check(Replies.content, v, `${op} reply`));
  // Handled here: the reply may fail while the content is still being written, before its
  // consumer awaits `done` (an unhandled rejection would end the process).
  done.catch(() => undefined);
  return { chunks: r.data, done };
}

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

/**
 * Serves one connection until it closes. Resolves when the peer has gone (the server's file set is
 * closed and unlocked whatever happened), with why the connection ended: `CONNECTION_LOST` when the
 * peer simply hung up, a `FRAME_*`/`HANDSHAKE_FAILED`/`PROTOCOL_VERSION`/`SESSION_UNKNOWN` error when
 * it broke the protocol (for the caller to log; the peer only sees the stream end).
 */
export async function serveConnection(input: Readable, output: Writable, resolveRoot: RootResolver, opts: ServerOptions): Promise<Error | undefined> {
  /** The attached server (set once its attach succeeded); `opening` while the attach runs. */
  let server: LentoServer | undefined;
  let opening: LentoServer | undefined;
  let closed = false;
  const inFlight = new Set<Promise<unknown>>();
  const need = (): HolderPeer => {
    if (closed) throw new ImzError("USAGE", "the file set was closed on this connection", { hint: "the peer sent a request after close; nothing was done" });
    if (!server) throw new ImzError("USAGE", "attach must come first", { hint: "the peer sent a request before its attach completed; nothing was done" });
    return server;
  };
  const handlers: Record<string, Handler> = {
    attach: async (h) => {
      const req = check(Requests.attach, h, "attach request");
      // a second attach must not replace (and so leak, still locked) the file set the first one opened
      if (server || opening || closed) throw new ImzError("USAGE", "attach called twice on one connection");
      const s = (opening = new LentoServer(resolveRoot(req.fileset), opts));
      try {
        const r = await s.attach(req);
        server = s;
        return r;
      } catch (err) {
        await s.close();
        throw err;
      } finally {
        opening = undefined;
      }
    },
    applied: async (h) => {
      const req = check(Requests.applied, h, "applied request");
      return need().applied(req.replica, req.fromSeq);
    },
    reintegrate: async (h) => {
      const req = check(Requests.reintegrate, h, "reintegrate request");
      return need().reintegrate(req.records, (fid, signature) => requestContent(conn, "backfetch", fid, signature), req.keep);
    },
    updates: async (h) => {
      const req = check(Requests.updates, h, "updates request");
      return need().updates(req.since, req.limit);
    },
    fetch: async (h, ctx) => {
      const req = check(Requests.fetch, h, "fetch request");
      return sendContent(ctx, req, (signature) => need().fetch(req.fid, signature));
    },
    getattr: async (h) => {
      const req = check(Requests.getattr, h, "getattr request");
      return need().getattr(req.fids);
    },
    presign: async (h) => {
      const req = check(Requests.presign, h, "presign request");
      await need().presign(req.fids);
      return null;
    },
  };
  // Every request is counted while it runs (a close waits for them), and nothing but a coded error
  // crosses the wire: an internal failure is logged here and answered as REMOTE_ERROR.
  for (const [op, handler] of Object.entries(handlers)) {
    handlers[op] = (h, ctx) => {
      const run = handler(h, ctx).catch((err: unknown) => {
        throw coded(op, err);
      });
      inFlight.add(run);
      void run.finally(() => inFlight.delete(run)).catch(() => undefined);
      return run;
    };
  }
  handlers["close"] = async (h) => {
    check(Requests.close, h, "close request");
    closed = true;
    await Promise.allSettled([...inFlight]);
    await server?.close();
    return null;
  };
  const conn = new Connection(input, output, { handlers });
  try {
    await conn.start({ software: SOFTWARE, role: "holder" });
  } catch {
    // a failed handshake: `closed` says why; the server just cleans up
  }
  try {
    return await conn.closed;
  } finally {
    closed = true;
    await Promise.allSettled([...inFlight]);
    await server?.close();
    conn.close();
    // Stop reading: after a protocol error the peer may keep its side open, and a `serve --stdio`
    // child would otherwise linger on its stdin until the peer hangs up.
    input.destroy();
  }
}

/**
 * What a failed request answers: a coded error as it is, a full disk as `DISK_FULL`, an errno error
 * as `IO` (its code and message); anything else is a defect of the holder, logged on its stderr and
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
