/**
 * Serving a file set over a byte stream: the holder's side of the wire protocol. Every request
 * header is schema-checked before it reaches {@link LentoServer}; content the server backfetches is
 * requested from the client over the same connection.
 */
import type { Readable, Writable } from "node:stream";
import { ImzError } from "../errors.js";
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

/** Sends a `fetch` or `backfetch` for `fid`, with `signature` as its upload when given (and a fetch's `hash`). */
export function requestContent(conn: Connection, op: "fetch" | "backfetch", fid: string, signature?: Buffer, hash?: string): ContentStream {
  const r = conn.request({ op, fid, ...(signature ? { signature: true } : {}), ...(hash ? { hash } : {}) }, signature ? once(signature) : undefined);
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
      return need().reintegrate(req.records, (fid, signature) => requestContent(conn, "backfetch", fid, signature), req.keep);
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
    presign: async (h) => {
      const req = check(Requests.presign, h, "presign request");
      await need().presign(req.fids);
      return null;
    },
    close: async (h) => {
      check(Requests.close, h, "close request");
      await server?.close();
      return null;
    },
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
    await server?.close();
    conn.close();
    // Stop reading: after a protocol error the peer may keep its side open, and a `serve --stdio`
    // child would otherwise linger on its stdin until the peer hangs up.
    input.destroy();
  }
}
