/**
 * The frame codec: pure bytes-in/frames-out, no I/O (the transport moves bytes; STYLE.md 4).
 *
 * Stream layout: a preamble (8 magic bytes + u16 protocol version) from each side, then frames:
 *
 * ```
 * u8  kind            1 request, 2 message, 3 reply, 4 data, 5 end-of-data, 6 end-of-request
 * u32 sender session  } the asynchronous completion token: which session sent it
 * u32 receiver session} and which session it is for (0 = the dispatcher)
 * u32 header length   UTF-8 JSON, ≤ MAX_HEADER (empty for data frames)
 * u32 payload length  raw bytes, ≤ MAX_PAYLOAD (data frames only)
 * header, payload
 * ```
 * All integers big-endian. Anything else (unknown kind, oversized lengths, a header on a data frame,
 * bad JSON, a truncated stream) is an `ImzError` with a `FRAME_*` code, never a crash.
 */
import { ImzError } from "../errors.js";

/** Magic bytes that open every protocol stream (PNG-style: catches 7-bit and newline mangling). */
export const MAGIC = Buffer.from([0x89, 0x49, 0x4d, 0x5a, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Wire protocol version; both sides must speak the same one. */
export const PROTOCOL_VERSION = 1;
/** Largest header accepted (a batch of journal records fits comfortably). */
export const MAX_HEADER = 4 << 20;
/** Largest data payload accepted in one frame. */
export const MAX_PAYLOAD = 1 << 20;
/** Fixed frame prefix length. */
export const FRAME_PREFIX = 17;

/** The paper's six packet kinds. */
export const FrameKind = {
  REQUEST: 1,
  MESSAGE: 2,
  REPLY: 3,
  DATA: 4,
  END_OF_DATA: 5,
  END_OF_REQUEST: 6,
} as const;
/** One of {@link FrameKind}. */
export type FrameKindValue = (typeof FrameKind)[keyof typeof FrameKind];

/** A decoded frame. `header` is parsed JSON (not yet schema-checked: the dispatcher does that per op). */
export interface Frame {
  kind: FrameKindValue;
  /** Session that sent the frame. */
  from: number;
  /** Session the frame is for; 0 is the request dispatcher. */
  to: number;
  header: unknown;
  payload: Buffer;
  /** A data frame's payload continues in the next frame (see {@link FrameDecoder.push}). */
  partial?: true;
}

const EMPTY = Buffer.alloc(0);

/** Encodes a frame. Throws `FRAME_TOO_LARGE` for oversized parts (a local bug, never sent). */
export function encodeFrame(kind: FrameKindValue, from: number, to: number, header?: unknown, payload: Buffer = EMPTY): Buffer {
  const h = header === undefined ? EMPTY : Buffer.from(JSON.stringify(header), "utf8");
  if (h.length > MAX_HEADER) throw new ImzError("FRAME_TOO_LARGE", `frame header of ${h.length} bytes exceeds ${MAX_HEADER}`);
  if (payload.length > MAX_PAYLOAD) throw new ImzError("FRAME_TOO_LARGE", `frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const out = Buffer.allocUnsafe(FRAME_PREFIX + h.length + payload.length);
  out.writeUInt8(kind, 0);
  out.writeUInt32BE(from, 1);
  out.writeUInt32BE(to, 5);
  out.writeUInt32BE(h.length, 9);
  out.writeUInt32BE(payload.length, 13);
  h.copy(out, FRAME_PREFIX);
  payload.copy(out, FRAME_PREFIX + h.length);
  return out;
}

/** The preamble a side sends first. */
export function encodePreamble(version = PROTOCOL_VERSION): Buffer {
  const v = Buffer.alloc(2);
  v.writeUInt16BE(version, 0);
  return Buffer.concat([MAGIC, v]);
}

/** How much non-protocol output (a login shell's banner) may precede the magic before giving up. */
export const MAX_STRAY = 64 << 10;

/**
 * Incremental decoder: feed chunks with {@link FrameDecoder.push}, get whole frames back. It first
 * looks for the preamble, skipping (and keeping, for error messages) stray bytes before the magic.
 */
export class FrameDecoder {
  // Pending bytes as a list of chunks; joined only when a frame's prefix or header needs bytes from
  // several of them. A data frame's payload is never joined: it is handed on in the pieces it
  // arrives in (see {@link FrameDecoder.push}), so 1 MiB of data arriving in 64 KiB reads is
  // neither copied nor held in a new buffer.
  private chunks: Buffer[] = [];
  private total = 0;
  /** The data frame whose payload is arriving, and how much of it is still to come. */
  private data: { from: number; to: number; left: number } | undefined;
  private stray: Buffer = EMPTY;
  /** The peer's protocol version, once its preamble arrived. */
  peerVersion: number | undefined;

  /** Bytes that arrived before the magic (a remote shell's chatter), as text. */
  strayText(): string {
    const pending = this.peerVersion === undefined ? this.chunks : [];
    return Buffer.concat([this.stray, ...pending]).toString("utf8");
  }

  /**
   * Adds bytes; returns the frames they complete. A data frame's payload may come back in several
   * consecutive frames (same kind, sender and session), one per piece received, the first as soon
   * as its prefix is complete. Throws `FRAME_*`/`PROTOCOL_VERSION`/`HANDSHAKE_FAILED`.
   */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.total += chunk.length;
    }
    if (this.peerVersion === undefined && !this.readPreamble()) return [];
    const frames: Frame[] = [];
    for (;;) {
      const f = this.readFrame();
      if (!f) break;
      frames.push(f);
    }
    return frames;
  }

  /** Throws `FRAME_TRUNCATED` when the stream ended inside a frame. */
  end(): void {
    if (this.peerVersion !== undefined && (this.total > 0 || this.data !== undefined)) {
      throw new ImzError("FRAME_TRUNCATED", `stream ended inside a frame (${this.total} bytes pending)`, {
        hint: "the connection was cut; rerun to continue from where the journal stands",
      });
    }
  }

  /** Makes the first `n` pending bytes contiguous in `chunks[0]`; false if fewer are pending. */
  private have(n: number): boolean {
    if (this.total < n) return false;
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return true;
  }

  private consume(n: number): void {
    const first = this.chunks[0]!;
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.total -= n;
  }

  private readPreamble(): boolean {
    if (this.total === 0 || !this.have(this.total)) return false;
    const buf = this.chunks[0]!;
    const at = buf.indexOf(MAGIC);
    if (at < 0) {
      // keep a possible partial magic at the end
      const keep = Math.min(buf.length, MAGIC.length - 1);
      this.stray = Buffer.concat([this.stray, buf.subarray(0, buf.length - keep)]);
      this.consume(buf.length - keep);
      if (this.stray.length > MAX_STRAY) {
        throw new ImzError("HANDSHAKE_FAILED", `no intermezzo protocol in the first ${MAX_STRAY} bytes from the peer`, {
          hint: "the remote side printed something else: is the remote command really 'intermezzo serve --stdio'?",
        });
      }
      return false;
    }
    if (buf.length < at + MAGIC.length + 2) return false;
    this.stray = Buffer.concat([this.stray, buf.subarray(0, at)]);
    const version = buf.readUInt16BE(at + MAGIC.length);
    this.consume(at + MAGIC.length + 2);
    this.peerVersion = version;
    if (version !== PROTOCOL_VERSION) {
      throw new ImzError("PROTOCOL_VERSION", `peer speaks intermezzo protocol ${version}, this side speaks ${PROTOCOL_VERSION}`, {
        hint: "install the same intermezzo version on both hosts",
      });
    }
    return true;
  }

  /** The next piece of the data frame whose payload is arriving. */
  private readPiece(data: { from: number; to: number; left: number }): Frame | undefined {
    if (this.total === 0) return undefined;
    const first = this.chunks[0]!;
    const n = Math.min(first.length, data.left);
    const payload = first.subarray(0, n);
    this.consume(n);
    data.left -= n;
    const frame: Frame = { kind: FrameKind.DATA, from: data.from, to: data.to, header: undefined, payload };
    if (data.left > 0) frame.partial = true;
    else this.data = undefined;
    return frame;
  }

  private readFrame(): Frame | undefined {
    if (this.data) return this.readPiece(this.data);
    if (!this.have(FRAME_PREFIX)) return undefined;
    let buf = this.chunks[0]!;
    const kind = buf.readUInt8(0);
    if (kind < FrameKind.REQUEST || kind > FrameKind.END_OF_REQUEST) {
      throw new ImzError("FRAME_UNKNOWN_KIND", `unknown frame kind ${kind}`, { hint: "the peer is not speaking this protocol version, or the stream is corrupt" });
    }
    const hlen = buf.readUInt32BE(9);
    const plen = buf.readUInt32BE(13);
    if (hlen > MAX_HEADER) throw new ImzError("FRAME_TOO_LARGE", `frame header of ${hlen} bytes exceeds ${MAX_HEADER}`);
    if (plen > MAX_PAYLOAD) throw new ImzError("FRAME_TOO_LARGE", `frame payload of ${plen} bytes exceeds ${MAX_PAYLOAD}`);
    const isData = kind === FrameKind.DATA;
    if (isData && hlen !== 0) throw new ImzError("FRAME_BAD_HEADER", "a data frame carries a header");
    if (!isData && plen !== 0) throw new ImzError("FRAME_BAD_HEADER", `a frame of kind ${kind} carries a payload`);
    if (isData && plen > 0) {
      const data = { from: buf.readUInt32BE(1), to: buf.readUInt32BE(5), left: plen };
      this.consume(FRAME_PREFIX);
      this.data = data;
      return this.readPiece(data);
    }
    if (!this.have(FRAME_PREFIX + hlen + plen)) return undefined;
    buf = this.chunks[0]!;
    let header: unknown;
    if (hlen > 0) {
      try {
        header = JSON.parse(buf.toString("utf8", FRAME_PREFIX, FRAME_PREFIX + hlen));
      } catch {
        throw new ImzError("FRAME_BAD_HEADER", "frame header is not valid JSON");
      }
    }
    const payload = buf.subarray(FRAME_PREFIX + hlen, FRAME_PREFIX + hlen + plen);
    const frame: Frame = { kind: kind as FrameKindValue, from: buf.readUInt32BE(1), to: buf.readUInt32BE(5), header, payload };
    this.consume(FRAME_PREFIX + hlen + plen);
    return frame;
  }
}
