/**
 * A protocol connection over any byte stream: many concurrent sessions share it, each frame's
 * completion token (from/to session ids) routes it to its session, as Lento's PacketWheel does.
 *
 * A request (REQUEST, to=0) gets its own handler session on the receiving side. The requester may
 * follow it with an upload (DATA frames sent to=0, routed by the requester's session id, then
 * END_OF_DATA). The handler may stream DATA back (to the requester's session) and ends with one REPLY
 * (`{ok, result}` or `{ok:false, error}`). END_OF_REQUEST aborts a session. Incoming data is queued
 * per session; when the queues hold more than a high-water mark the input stream is paused
 * (backpressure), and outgoing data waits for the stream to drain.
 *
 * A peer that goes silent ends the connection with `TIMEOUT`: no hello within the handshake
 * timeout, or no byte for the idle timeout while a reply is awaited. A side serving requests sends
 * an `alive` message every {@link HEARTBEAT_MS} so a long request (a holder's scan) is not mistaken
 * for silence; a stream that ends inside a frame is `CONNECTION_LOST` (a cut, as any other).
 */
import { Type, TypeCompiler } from "../schema.js";
import type { Readable, Writable } from "node:stream";
import { ImzError, fromWireError, toWireError, type WireError } from "../errors.js";
import { Channel } from "./channel.js";
import { FrameDecoder, FrameKind, MAX_PAYLOAD, encodeFrame, encodePreamble, type Frame } from "./codec.js";

/** Header of a request or message: an operation name and its arguments. */
export interface OpHeader {
  op: string;
  [arg: string]: unknown;
}

/** What a request handler gets besides the header. */
export interface RequestContext {
  /** The requester's upload, if any (DATA frames until END_OF_DATA). */
  data: AsyncIterable<Buffer>;
  /** Streams bytes back to the requester (split into frames, waits for the stream to drain). */
  send(bytes: Buffer): Promise<void>;
  /** Ends the streamed data (before the reply). */
  endData(): void;
}

/** Serves one operation; its return value is the reply's result, a throw becomes an error reply. */
export type Handler = (header: OpHeader, ctx: RequestContext) => Promise<unknown>;

/** The answer to a request: its streamed data (consume it before awaiting `result`) and the result. */
export interface Response {
  data: AsyncIterable<Buffer>;
  result: Promise<unknown>;
}

const OpHeaderCheck = TypeCompiler.Compile(Type.Object({ op: Type.String({ minLength: 1, maxLength: 64 }) }));
const ReplyCheck = TypeCompiler.Compile(
  Type.Object({
    ok: Type.Boolean(),
    result: Type.Optional(Type.Unknown()),
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), hint: Type.Optional(Type.String()), path: Type.Optional(Type.String()) })),
  }),
);

/** Input is paused while this many bytes wait in session queues. */
const HIGH_WATER = 16 << 20;

/** While a request is being served, an `alive` message goes out this often (ms). */
export const HEARTBEAT_MS = 15_000;
/** Default wait for the peer's hello (ms). */
export const HANDSHAKE_TIMEOUT_MS = 60_000;
/** Default silence tolerated while a reply is awaited (ms); several heartbeats. */
export const IDLE_TIMEOUT_MS = 120_000;

interface Outgoing {
  data: Channel<Buffer>;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** Options of {@link Connection}. */
export interface ConnectionOptions {
  /** Operation handlers, keyed by op. */
  handlers?: Record<string, Handler>;
  /** One-way messages (other than the hello and `alive`). */
  onMessage?: (header: OpHeader) => void;
  /** Wait for the peer's hello before failing with `TIMEOUT` (ms); default {@link HANDSHAKE_TIMEOUT_MS}. */
  handshakeTimeoutMs?: number;
  /** Silence tolerated while a reply is awaited before failing with `TIMEOUT` (ms); default {@link IDLE_TIMEOUT_MS}. */
  idleTimeoutMs?: number;
  /** How often `alive` goes out while a request is served (ms); default {@link HEARTBEAT_MS}. */
  heartbeatMs?: number;
}

/** One end of a protocol connection. */
export class Connection {
  private readonly decoder = new FrameDecoder();
  private readonly outgoing = new Map<number, Outgoing>();
  private readonly incoming = new Map<number, Channel<Buffer>>();
  private nextSession = 1;
  private queued = 0;
  private failure: Error | undefined;
  private helloWaiter: { resolve(h: OpHeader): void; reject(e: Error): void } | undefined;
  private peerHello: OpHeader | undefined;
  private readonly handlers: Record<string, Handler>;
  /** Bytes sent and received on the stream so far. */
  readonly stats = { sent: 0, received: 0 };
  /** Resolves when the connection has ended (cleanly or not). */
  readonly closed: Promise<Error | undefined>;
  private markClosed!: (e: Error | undefined) => void;
  private lastHeard = Date.now();
  private serving = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly opts: ConnectionOptions & { onMessage?: (header: OpHeader) => void } = {},
  ) {
    this.handlers = opts.handlers ?? {};
    this.closed = new Promise((r) => (this.markClosed = r));
    this.watchdog = this.watch();
    input.on("data", (chunk: Buffer) => this.onBytes(chunk));
    input.on("end", () => this.onEnd());
    input.on("error", (err) => this.fail(lost(err)));
    // A stream destroyed without an end or an error (an SSH channel closed without EOF) is a cut too:
    // without this the connection, and the file set it serves, would wait forever.
    input.on("close", () => this.fail(new ImzError("CONNECTION_LOST", "the connection was closed", { hint: "rerun to continue; the journal keeps what was not acknowledged" })));
    output.on("error", (err) => this.fail(lost(err)));
  }

  /** Sends the preamble and our hello; resolves with the peer's hello. */
  start(hello: Record<string, unknown>): Promise<OpHeader> {
    this.write(encodePreamble());
    this.write(encodeFrame(FrameKind.MESSAGE, 0, 0, { op: "hello", ...hello }));
    if (this.peerHello) return Promise.resolve(this.peerHello);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.helloWaiter = { resolve, reject }));
  }

  /** Bytes that preceded the peer's preamble (e.g. a remote shell's error message). */
  strayText(): string {
    return this.decoder.strayText();
  }

  /** Sends a request with an optional upload; returns its streamed data and result. */
  request(header: OpHeader, upload?: AsyncIterable<Buffer>): Response {
    if (this.failure) {
      // `call` stops at the failed data and never awaits this result: mark it handled, or a request
      // made after the connection died (WirePeer.close's "close") ends the process.
      const failed = Promise.reject(this.failure);
      failed.catch(() => undefined);
      return { data: Channel.failed<Buffer>(this.failure), result: failed };
    }
    const id = this.nextSession++;
    const data = new Channel<Buffer>((n) => this.account(-n));
    const result = new Promise<unknown>((resolve, reject) => this.outgoing.set(id, { data, resolve, reject }));
    result.catch(() => undefined);
    this.write(encodeFrame(FrameKind.REQUEST, id, 0, header));
    if (upload) {
      void this.pump(id, 0, upload).catch((err) => this.abortOutgoing(id, err as Error));
    }
    return { data, result };
  }

  /** Sends a request with no data either way and waits for its result. */
  async call(header: OpHeader): Promise<unknown> {
    const r = this.request(header);
    for await (const chunk of r.data) void chunk;
    return r.result;
  }

  /** Sends a one-way message. */
  message(header: OpHeader): void {
    if (!this.failure) this.write(encodeFrame(FrameKind.MESSAGE, 0, 0, header));
  }

  /**
   * True while the stream has more queued than it wants (a slow or stalled peer): a sender of
   * messages that can be coalesced waits for {@link Connection.whenDrained} instead of queueing more.
   */
  get congested(): boolean {
    return this.output.writableNeedDrain;
  }

  /** Resolves once the stream has drained (or closed). */
  whenDrained(): Promise<void> {
    return this.congested ? this.drained() : Promise.resolve();
  }

  /** Sets the handler of one-way messages (other than the hello). */
  onMessage(fn: (header: OpHeader) => void): void {
    this.opts.onMessage = fn;
  }

  /** Ends our side of the stream. */
  close(): void {
    this.output.end();
  }

  /** Fails every session and closes, reporting `err` (idempotent). */
  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.helloWaiter?.reject(err);
    for (const o of this.outgoing.values()) {
      o.data.fail(err);
      o.reject(err);
    }
    for (const c of this.incoming.values()) c.fail(err);
    this.outgoing.clear();
    this.incoming.clear();
    clearTimeout(this.watchdog);
    clearInterval(this.heartbeat);
    this.input.resume();
    if (!this.output.writableEnded) this.output.end();
    this.markClosed(err);
  }

  /** Writes bytes to the stream, counting them; returns false when the stream wants a drain. */
  private write(bytes: Buffer): boolean {
    this.stats.sent += bytes.length;
    return this.output.write(bytes);
  }

  private onEnd(): void {
    try {
      this.decoder.end();
    } catch (err) {
      // cut inside a frame: a lost connection like any other, once the protocol has started
      const truncated = err instanceof ImzError && err.code === "FRAME_TRUNCATED" && this.peerHello !== undefined;
      this.fail(truncated ? new ImzError("CONNECTION_LOST", `the peer's stream ended inside a frame: ${err.message}`, { hint: "rerun to continue; the journal keeps what was not acknowledged", cause: err }) : (err as Error));
      return;
    }
    if (this.peerHello === undefined) {
      this.fail(new ImzError("HANDSHAKE_FAILED", "the peer closed the connection before the protocol started"));
      return;
    }
    this.fail(new ImzError("CONNECTION_LOST", "the peer closed the connection", { hint: "rerun to continue; the journal keeps what was not acknowledged" }));
  }

  private onBytes(chunk: Buffer): void {
    this.stats.received += chunk.length;
    this.lastHeard = Date.now();
    if (this.failure) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    for (const f of frames) {
      try {
        this.dispatch(f);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
    }
  }

  private dispatch(f: Frame): void {
    // Handshake first: nothing but the peer's hello is acted on before it (a request sent before the
    // hello would otherwise be served on a connection whose peer never identified itself).
    if (this.peerHello === undefined && f.kind !== FrameKind.MESSAGE) {
      throw new ImzError("HANDSHAKE_FAILED", `the peer sent a frame of kind ${f.kind} before its hello`);
    }
    switch (f.kind) {
      case FrameKind.MESSAGE: {
        const h = checkOp(f.header);
        if (h.op === "hello") {
          this.peerHello = h;
          this.helloWaiter?.resolve(h);
        } else if (h.op === "alive") {
          // a heartbeat: hearing it was the point
        } else if (this.peerHello === undefined) {
          throw new ImzError("HANDSHAKE_FAILED", `the peer sent '${h.op}' before its hello`);
        } else this.opts.onMessage?.(h);
        return;
      }
      case FrameKind.REQUEST:
        this.serve(f.from, checkOp(f.header));
        return;
      case FrameKind.REPLY: {
        if (!ReplyCheck.Check(f.header)) throw new ImzError("FRAME_BAD_HEADER", "malformed reply header");
        const o = this.outgoing.get(f.to);
        if (!o) return; // a reply to a session we aborted
        this.outgoing.delete(f.to);
        const h = f.header;
        o.data.end();
        if (h.ok) o.resolve(h.result);
        else o.reject(fromWireError(h.error ?? { code: "REMOTE_ERROR", message: "error reply without error" }));
        return;
      }
      case FrameKind.DATA:
      case FrameKind.END_OF_DATA: {
        const ch = f.to !== 0 ? this.outgoing.get(f.to)?.data : this.incoming.get(f.from);
        if (!ch) throw new ImzError("SESSION_UNKNOWN", `data for unknown session ${f.to || f.from}`);
        if (f.kind === FrameKind.END_OF_DATA) ch.end();
        else {
          this.account(f.payload.length);
          ch.push(f.payload, f.payload.length);
        }
        return;
      }
      case FrameKind.END_OF_REQUEST: {
        const err = new ImzError("CONNECTION_LOST", "the peer aborted the request");
        if (f.to !== 0) this.abortOutgoing(f.to, err);
        else this.incoming.get(f.from)?.fail(err);
        return;
      }
    }
  }

  private serve(peerId: number, header: OpHeader): void {
    const id = this.nextSession++;
    const upload = new Channel<Buffer>((n) => this.account(-n));
    this.incoming.set(peerId, upload);
    const ctx: RequestContext = {
      data: upload,
      send: (bytes) => this.sendData(id, peerId, bytes),
      endData: () => this.write(encodeFrame(FrameKind.END_OF_DATA, id, peerId)),
    };
    const handler = this.handlers[header.op];
    const run = handler
      ? handler(header, ctx)
      : Promise.reject(new ImzError("UNSUPPORTED", `the peer does not support '${header.op}'`, { hint: "install the same intermezzo version on both hosts" }));
    if (this.serving++ === 0) {
      this.heartbeat = setInterval(() => this.message({ op: "alive" }), this.opts.heartbeatMs ?? HEARTBEAT_MS);
      this.heartbeat.unref();
    }
    void run.finally(() => {
      if (--this.serving === 0) clearInterval(this.heartbeat);
    }).catch(() => undefined);
    run.then(
      (result) => this.reply(id, peerId, { ok: true, result }),
      (err: unknown) => this.reply(id, peerId, { ok: false, error: toWireError(err) }),
    );
  }

  private reply(id: number, peerId: number, body: { ok: boolean; result?: unknown; error?: WireError }): void {
    // An upload the handler did not read is dropped, and its queued bytes released: left counted, they
    // would keep the input paused (backpressure) and stall every later request on the connection.
    this.incoming.get(peerId)?.fail(new ImzError("SESSION_UNKNOWN", "the request was answered before its upload was read"));
    this.incoming.delete(peerId);
    if (!this.failure) this.write(encodeFrame(FrameKind.REPLY, id, peerId, body));
  }

  private async pump(from: number, to: number, source: AsyncIterable<Buffer>): Promise<void> {
    for await (const chunk of source) await this.sendData(from, to, chunk);
    if (!this.failure) this.write(encodeFrame(FrameKind.END_OF_DATA, from, to));
  }

  private async sendData(from: number, to: number, bytes: Buffer): Promise<void> {
    for (let off = 0; off < bytes.length; off += MAX_PAYLOAD) {
      if (this.failure) throw this.failure;
      const ok = this.write(encodeFrame(FrameKind.DATA, from, to, undefined, bytes.subarray(off, off + MAX_PAYLOAD)));
      if (!ok) await this.drained();
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.output.off("drain", done);
        this.output.off("close", done);
        resolve();
      };
      this.output.on("drain", done);
      this.output.on("close", done);
    });
  }

  private abortOutgoing(id: number, err: Error): void {
    const o = this.outgoing.get(id);
    if (!o) return;
    this.outgoing.delete(id);
    o.data.fail(err);
    o.reject(err);
    if (!this.failure) this.write(encodeFrame(FrameKind.END_OF_REQUEST, id, 0));
  }

  /**
   * The silence watchdog: fails with `TIMEOUT` when the peer's hello has not come within the
   * handshake timeout, or nothing was heard for the idle timeout while a reply is awaited.
   */
  private watch(): NodeJS.Timeout {
    const started = Date.now();
    const handshakeMs = this.opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    const idleMs = this.opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    const timer = setTimeout(() => {
      if (this.failure) return;
      const now = Date.now();
      if (this.peerHello === undefined && now - started >= handshakeMs) {
        this.fail(new ImzError("TIMEOUT", `the peer did not start the protocol within ${handshakeMs / 1000} s`, { hint: "the remote side connected but says nothing: check that it runs 'intermezzo serve --stdio'" }));
      } else if (this.outgoing.size > 0 && now - this.lastHeard >= idleMs) {
        this.fail(new ImzError("TIMEOUT", `no word from the peer for ${idleMs / 1000} s while waiting for a reply`, { hint: "the remote side hangs or the network drops packets; rerun to continue" }));
      } else {
        timer.refresh();
      }
    }, Math.max(10, Math.min(handshakeMs, idleMs) / 4));
    timer.unref();
    return timer;
  }

  private account(delta: number): void {
    this.queued += delta;
    if (this.queued > HIGH_WATER && !this.input.isPaused()) this.input.pause();
    else if (this.queued <= HIGH_WATER / 2 && this.input.isPaused()) this.input.resume();
  }
}

/** A stream error as the connection's failure; a transport's own CONNECTION_LOST (with its hint) is kept. */
function lost(err: Error): ImzError {
  if (err instanceof ImzError && err.code === "CONNECTION_LOST") return err;
  return new ImzError("CONNECTION_LOST", `connection error: ${err.message}`, {
    hint: "rerun to continue; the journal keeps what was not acknowledged",
    cause: err,
  });
}

function checkOp(header: unknown): OpHeader {
  if (!OpHeaderCheck.Check(header)) throw new ImzError("FRAME_BAD_HEADER", "request or message header lacks a valid 'op'");
  return header as OpHeader;
}
