/**
 * Content on the wire: a `fetch` or `backfetch` request (with the requester's signature as its
 * upload, when it has a basis) and its answer (a delta, or the whole content, as data frames, then
 * the content's description as the reply). Used by both ends of a connection.
 */
import type { Connection, RequestContext } from "../ssh/connection.js";
import type { BatchItem, ContentBatch } from "./batch-transfer.js";
import { readSignature } from "./delta-transfer.js";
import { signatureOf, type ContentAsk, type ExtentsAsk } from "./extents-transfer.js";
import { Replies, check } from "./protocol.js";
import type { ContentStream } from "./content-stream.js";

/**
 * Answers a `fetch` or `backfetch`: reads the requester's signature upload when the header says
 * one follows, streams `read`'s bytes (a delta against it, or the whole content) as data frames and
 * returns the content's description as the reply.
 */
export async function sendContent(ctx: RequestContext, req: { signature?: boolean; extents?: ExtentsAsk }, read: (ask?: ContentAsk) => ContentStream): Promise<unknown> {
  const stream = read(req.extents ?? (req.signature === true ? await readSignature(ctx.data) : undefined));
  for await (const chunk of stream.chunks) await ctx.send(chunk);
  ctx.endData();
  return stream.done;
}

/**
 * Sends a `fetch` or `backfetch` for `fid`: with a signature as its upload, or an extents ask in its
 * header, when given (and a fetch's `hash`).
 */
export function requestContent(conn: Connection, op: "fetch" | "backfetch", fid: string, ask?: ContentAsk, hash?: string): ContentStream {
  const signature = signatureOf(ask);
  const extents = signature === undefined ? ask : undefined;
  const header = { op, fid, ...(signature ? { signature: true } : {}), ...(extents ? { extents } : {}), ...(hash ? { hash } : {}) };
  const r = conn.request(header, signature ? once(signature) : undefined);
  const done = r.result.then((v) => check(Replies.content, v, `${op} reply`));
  // Handled here: the reply may fail while the content is still being written, before its
  // consumer awaits `done` (an unhandled rejection would end the process).
  done.catch(() => undefined);
  return { chunks: r.data, done };
}

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

/** Answers a `fetchBatch` or `backfetchBatch`: the items' bytes back to back as data frames, the manifest as the reply. */
export async function sendBatch(ctx: RequestContext, batch: ContentBatch): Promise<unknown> {
  for await (const chunk of batch.chunks) await ctx.send(chunk);
  ctx.endData();
  return batch.done;
}

/** Sends a `fetchBatch` or `backfetchBatch` for `items`; the manifest is schema-checked (`receiveBatch` checks it against the bytes). */
export function requestBatch(conn: Connection, op: "fetchBatch" | "backfetchBatch", items: BatchItem[]): ContentBatch {
  const r = conn.request({ op, items });
  const done = r.result.then((v) => check(Replies.batch, v, `${op} reply`));
  done.catch(() => undefined);
  return { chunks: r.data, done };
}
