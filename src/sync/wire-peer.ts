/**
 * {@link HolderPeer} over the wire protocol: the replica's end of a connection to a holder (a stdio
 * child, an SSH exec channel or Lento's listener). Every reply is schema-checked; the holder's
 * backfetch requests are answered from the current reintegration's content source.
 */
import type { ContentAsk } from "./extents-transfer.js";
import type { Readable, Writable } from "node:stream";
import { ImzError } from "../errors.js";
import type { FsObject } from "../journal/fsdb.js";
import type { JournalRecord } from "../journal/records.js";
import { Connection, type Handler } from "../ssh/connection.js";
import type { AppliedRecord, AttachReply, AttachRequest, ContentSource, HolderPeer, LiveReplica, ObjectsReply, ReintegrateReply, UpdatesReply } from "./peer.js";
import type { PermitGrant } from "./permits.js";
import { Replies, Requests, SOFTWARE, check } from "./protocol.js";
import { requestBatch, requestContent, sendBatch, sendContent } from "./content-wire.js";
import type { BatchItem, BatchRequest, ContentBatch } from "./batch-transfer.js";
import type { ContentStream } from "./content-stream.js";

/** Options of {@link WirePeer.connect}. */
export interface WirePeerOptions {
  /** The file set to attach to, for servers that hold several (Lento's listener). */
  fileset?: string;
  /** Called when the connection ends, e.g. to reap a child process. */
  onClose?: () => Promise<void>;
  /** Explains a failed handshake (e.g. the remote command's stderr and exit status). */
  explain?: (err: Error, stray: string) => Promise<Error>;
}

/** A holder reached over a byte stream. */
export class WirePeer implements HolderPeer {
  private source: ContentSource | undefined;
  private batchSource: BatchRequest | undefined;

  private constructor(
    private readonly conn: Connection,
    /** The handlers this side serves on the connection (the holder's requests). */
    private readonly handlers: Record<string, Handler>,
    private readonly opts: WirePeerOptions,
    /** The connection is someone else's (it serves other requests too): close leaves it open. */
    private readonly borrowed: boolean,
  ) {}

  /** Answers the holder's backfetch from the current reintegration's content source. */
  private readonly backfetch: Handler = async (h, ctx) => {
    const req = check(Requests.backfetch, h, "backfetch request");
    if (!this.source) throw new ImzError("USAGE", "backfetch outside a reintegration");
    const source = this.source;
    return sendContent(ctx, req, (signature) => source(req.fid, signature));
  };

  /** Answers the holder's batched backfetch from the current reintegration's batch source. */
  private readonly backfetchBatch: Handler = async (h, ctx) => {
    const req = check(Requests.backfetchBatch, h, "backfetchBatch request");
    if (!this.batchSource) throw new ImzError("USAGE", "backfetchBatch outside a reintegration with batches");
    return sendBatch(ctx, this.batchSource(req.items));
  };

  /** Runs the handshake on `input`/`output` and returns the peer. */
  static async connect(input: Readable, output: Writable, opts: WirePeerOptions = {}): Promise<WirePeer> {
    const handlers: Record<string, Handler> = {};
    const conn = new Connection(input, output, { handlers });
    const peer = new WirePeer(conn, handlers, opts, false);
    handlers.backfetch = peer.backfetch;
    handlers.backfetchBatch = peer.backfetchBatch;
    try {
      await conn.start({ software: SOFTWARE, role: "replica" });
    } catch (err) {
      conn.fail(err as Error);
      // Explain before closing: closing an SSH channel first can lose the remote exit status
      // that tells a missing intermezzo (127) from other failures.
      const explained = opts.explain ? await opts.explain(err as Error, conn.strayText()) : (err as Error);
      await opts.onClose?.();
      throw explained;
    }
    return peer;
  }

  /**
   * The holder reached over a connection that is already running, whose `handlers` this side
   * serves (the holder asked this side to sync as its replica: `replica-role.ts`). Closing the peer
   * ends the attachment, not the connection.
   */
  static over(conn: Connection, handlers: Record<string, Handler>, opts: WirePeerOptions = {}): WirePeer {
    const peer = new WirePeer(conn, handlers, opts, true);
    handlers.backfetch = peer.backfetch;
    handlers.backfetchBatch = peer.backfetchBatch;
    return peer;
  }

  async attach(req: AttachRequest): Promise<AttachReply> {
    const header = { op: "attach", ...req, ...(this.opts.fileset !== undefined ? { fileset: this.opts.fileset } : {}) };
    return check(Replies.attach, await this.conn.call(header), "attach reply");
  }

  async applied(replica: string, fromSeq: number): Promise<AppliedRecord[]> {
    return check(Replies.applied, await this.conn.call({ op: "applied", replica, fromSeq }), "applied reply");
  }

  async reintegrate(records: JournalRecord[], source: ContentSource, keep?: string, batch?: BatchRequest): Promise<ReintegrateReply> {
    this.source = source;
    this.batchSource = batch;
    try {
      const header = { op: "reintegrate", records, ...(keep !== undefined ? { keep } : {}) };
      const reply = check(Replies.reintegrate, await this.conn.call(header), "reintegrate reply");
      return reply as ReintegrateReply;
    } finally {
      this.source = undefined;
      this.batchSource = undefined;
    }
  }

  async updates(since: number, limit: number): Promise<UpdatesReply> {
    return check(Replies.updates, await this.conn.call({ op: "updates", since, limit }), "updates reply");
  }

  fetch(fid: string, ask?: ContentAsk, hash?: string): ContentStream {
    return requestContent(this.conn, "fetch", fid, ask, hash);
  }

  fetchBatch(items: BatchItem[]): ContentBatch {
    return requestBatch(this.conn, "fetchBatch", items);
  }

  async getattr(fids: string[]): Promise<Array<FsObject | null>> {
    return check(Replies.getattr, await this.conn.call({ op: "getattr", fids }), "getattr reply");
  }

  async objects(after: string, limit: number): Promise<ObjectsReply> {
    return check(Replies.objects, await this.conn.call({ op: "objects", after, limit }), "objects reply");
  }

  async presign(fids: string[]): Promise<void> {
    check(Replies.presign, await this.conn.call({ op: "presign", fids }), "presign reply");
  }

  async watch(live: LiveReplica): Promise<void> {
    this.handlers.break = async (h) => {
      const b = check(Requests.break, h, "break request");
      await live.breakCallback({ volume: b.volume, fids: b.fids, ...(b.all ? { all: true } : {}) });
      return null;
    };
    this.handlers.revoke = async (h) => {
      await live.revoke(check(Requests.revoke, h, "revoke request").fids);
      return null;
    };
    check(Replies.watch, await this.conn.call({ op: "watch" }), "watch reply");
  }

  async permit(fids: string[]): Promise<PermitGrant> {
    return check(Replies.permit, await this.conn.call({ op: "permit", fids }), "permit reply");
  }

  /** Resolves when the connection has ended (the holder went away, or this side closed). */
  get ended(): Promise<Error | undefined> {
    return this.conn.closed;
  }

  async close(lastSeen?: number): Promise<void> {
    try {
      await this.conn.call({ op: "close", ...(lastSeen !== undefined ? { lastSeen } : {}) });
    } catch {
      // closing after a failure: the connection is already gone
    }
    if (this.borrowed) return;
    this.conn.close();
    await this.conn.closed;
    await this.opts.onClose?.();
  }

  wireBytes(): { sent: number; received: number } {
    return { ...this.conn.stats };
  }
}
