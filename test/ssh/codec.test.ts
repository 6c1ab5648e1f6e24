/**
 * The frame codec as a pure function of its input bytes: round trips of every frame kind, streams
 * split at every byte boundary and fed a byte at a time, many frames in one chunk, stray output before
 * the magic, each refusal with its code, and fast-check properties: random frame lists survive random
 * chunking, and random bytes never make the decoder throw anything but an `ImzError` with a framing code.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ImzError } from "../../src/errors.js";
import {
  FrameDecoder,
  FrameKind,
  MAGIC,
  MAX_HEADER,
  MAX_PAYLOAD,
  MAX_STRAY,
  PROTOCOL_VERSION,
  encodeFrame,
  encodePreamble,
  type Frame,
  type FrameKindValue,
} from "../../src/ssh/codec.js";
import { prefix } from "../helpers/frames.js";

const SEED = 20261124;

/** The frame codes the decoder may raise on arbitrary input. */
const DECODER_CODES = new Set(["FRAME_TOO_LARGE", "FRAME_UNKNOWN_KIND", "FRAME_TRUNCATED", "FRAME_BAD_HEADER", "PROTOCOL_VERSION", "HANDSHAKE_FAILED"]);

interface Spec {
  kind: FrameKindValue;
  from: number;
  to: number;
  header?: unknown;
  payload?: Buffer;
}

const SAMPLE: Spec[] = [
  { kind: FrameKind.MESSAGE, from: 0, to: 0, header: { op: "hello", software: "t", role: "replica" } },
  { kind: FrameKind.REQUEST, from: 1, to: 0, header: { op: "attach", n: 1, s: "ünïcödé 日本語", nested: { a: [1, 2, null] } } },
  { kind: FrameKind.DATA, from: 1, to: 0, payload: Buffer.from([0, 1, 2, 255, 0x89, 0x49]) },
  { kind: FrameKind.DATA, from: 1, to: 0, payload: Buffer.alloc(0) },
  { kind: FrameKind.END_OF_DATA, from: 1, to: 0 },
  { kind: FrameKind.REPLY, from: 7, to: 1, header: { ok: false, error: { code: "IO", message: "x" } } },
  { kind: FrameKind.END_OF_REQUEST, from: 0xffffffff, to: 0xfffffffe },
];

function encode(s: Spec): Buffer {
  return encodeFrame(s.kind, s.from, s.to, s.header, s.payload);
}

function stream(specs: Spec[]): Buffer {
  return Buffer.concat([encodePreamble(), ...specs.map(encode)]);
}

/** What a decoded frame should look like. */
function expected(s: Spec): Frame {
  return { kind: s.kind, from: s.from, to: s.to, header: s.header, payload: s.payload ?? Buffer.alloc(0) };
}

function plain(f: Frame): Frame {
  return { ...f, payload: Buffer.from(f.payload) };
}

/** Decodes a stream fed in `chunks`, joining each data frame's pieces back into one frame. */
function decodeChunks(chunks: Buffer[]): Frame[] {
  const d = new FrameDecoder();
  const out: Frame[] = [];
  let joining: Frame | undefined;
  for (const c of chunks) {
    for (const f of d.push(c)) {
      const whole = joining ? { ...f, payload: Buffer.concat([joining.payload, f.payload]) } : plain(f);
      if (joining) assert.deepEqual([f.kind, f.from, f.to], [joining.kind, joining.from, joining.to], "a data frame's pieces are consecutive");
      joining = whole.partial ? whole : undefined;
      if (!whole.partial) out.push(whole);
    }
  }
  d.end();
  assert.equal(joining, undefined, "no data frame left unfinished");
  return out;
}

/** The ImzError code `fn` throws (fails the test when it throws anything else or nothing). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ImzError, `expected an ImzError, got ${String(err)}`);
    return err.code;
  }
  assert.fail("expected a throw");
}


describe("codec: round trips", () => {
  it("every frame kind decodes to what was encoded, in one chunk", () => {
    assert.deepEqual(decodeChunks([stream(SAMPLE)]), SAMPLE.map(expected));
  });

  it("a stream split into two chunks at every byte boundary decodes the same", () => {
    const bytes = stream(SAMPLE);
    const want = SAMPLE.map(expected);
    for (let i = 0; i <= bytes.length; i++) {
      assert.deepEqual(decodeChunks([bytes.subarray(0, i), bytes.subarray(i)]), want, `split at ${i}`);
    }
  });

  it("a stream fed one byte at a time decodes the same", () => {
    const bytes = stream(SAMPLE);
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    assert.deepEqual(decodeChunks(chunks), SAMPLE.map(expected));
  });

  it("many frames in one chunk come back in order", () => {
    const specs: Spec[] = [];
    for (let i = 0; i < 5000; i++) {
      specs.push(i % 3 === 0 ? { kind: FrameKind.DATA, from: i, to: 0, payload: Buffer.alloc(i % 17, i & 0xff) } : { kind: FrameKind.REQUEST, from: i, to: 0, header: { op: "x", i } });
    }
    const frames = decodeChunks([stream(specs)]);
    assert.equal(frames.length, specs.length);
    assert.deepEqual(frames, specs.map(expected));
  });

  it("a data frame's payload is handed on as it arrives, in the received buffers, not copied", () => {
    const payload = Buffer.alloc(MAX_PAYLOAD, 7);
    const bytes = stream([{ kind: FrameKind.DATA, from: 3, to: 0, payload }, { kind: FrameKind.END_OF_DATA, from: 3, to: 0 }]);
    const d = new FrameDecoder();
    const pieces: Frame[] = [];
    const received: Buffer[] = [];
    for (let off = 0; off < bytes.length; off += 64 << 10) {
      const chunk = Buffer.from(bytes.subarray(off, off + (64 << 10)));
      received.push(chunk);
      const got = d.push(chunk);
      if (off === 0) assert.ok(got.length > 0 && got.at(-1)!.partial === true, "the first piece comes with the first chunk");
      pieces.push(...got);
    }
    d.end();
    const data = pieces.filter((f) => f.kind === FrameKind.DATA);
    assert.ok(data.slice(0, -1).every((f) => f.partial === true) && data.at(-1)!.partial === undefined);
    assert.ok(Buffer.concat(data.map((f) => f.payload)).equals(payload));
    assert.ok(data.every((f) => received.some((c) => c.buffer === f.payload.buffer)), "every piece is a view of a received chunk");
    assert.equal(pieces.at(-1)!.kind, FrameKind.END_OF_DATA);
  });

  it("frames of the largest header and payload are accepted", () => {
    const big = "x".repeat(MAX_HEADER - 20);
    const specs: Spec[] = [
      { kind: FrameKind.REQUEST, from: 1, to: 0, header: { op: "b", big } },
      { kind: FrameKind.DATA, from: 1, to: 0, payload: Buffer.alloc(MAX_PAYLOAD, 7) },
    ];
    const bytes = stream(specs);
    const chunks: Buffer[] = [];
    for (let off = 0; off < bytes.length; off += 65536) chunks.push(bytes.subarray(off, off + 65536));
    assert.deepEqual(decodeChunks(chunks), specs.map(expected));
  });

  it("stray output before the magic is skipped and kept for messages, even with a magic split across chunks", () => {
    const banner = Buffer.from("Welcome to host\r\nlast login: never\n\x89IMZ but not quite\n");
    const bytes = Buffer.concat([banner, stream(SAMPLE.slice(0, 2))]);
    for (let i = 0; i <= bytes.length; i++) {
      const d = new FrameDecoder();
      const frames = [...d.push(bytes.subarray(0, i)), ...d.push(bytes.subarray(i))];
      assert.equal(frames.length, 2, `split at ${i}`);
      assert.equal(d.peerVersion, PROTOCOL_VERSION);
      assert.equal(d.strayText(), banner.toString("utf8"));
    }
  });

  it("a stream that ends between frames is clean; one that ends inside a frame is FRAME_TRUNCATED", () => {
    const bytes = stream(SAMPLE);
    const d = new FrameDecoder();
    d.push(bytes);
    d.end();
    const preamble = encodePreamble().length;
    for (let cut = preamble + 1; cut < bytes.length; cut += 3) {
      const t = new FrameDecoder();
      try {
        t.push(bytes.subarray(0, cut));
      } catch {
        assert.fail(`prefix of ${cut} bytes threw`);
      }
      const boundary = frameBoundaries(SAMPLE).includes(cut - preamble);
      if (boundary) t.end();
      else assert.equal(codeOf(() => t.end()), "FRAME_TRUNCATED", `cut at ${cut}`);
    }
  });
});

function frameBoundaries(specs: Spec[]): number[] {
  const out = [0];
  let off = 0;
  for (const s of specs) out.push((off += encode(s).length));
  return out;
}

describe("codec: refusals", () => {
  const cases: Array<{ name: string; bytes: () => Buffer; code: string }> = [
    { name: "header longer than MAX_HEADER", code: "FRAME_TOO_LARGE", bytes: () => prefix(FrameKind.REQUEST, MAX_HEADER + 1, 0) },
    { name: "header length 0xffffffff", code: "FRAME_TOO_LARGE", bytes: () => prefix(FrameKind.REQUEST, 0xffffffff, 0) },
    { name: "payload longer than MAX_PAYLOAD", code: "FRAME_TOO_LARGE", bytes: () => prefix(FrameKind.DATA, 0, MAX_PAYLOAD + 1) },
    { name: "kind 0", code: "FRAME_UNKNOWN_KIND", bytes: () => prefix(0, 2, 0) },
    { name: "kind 7", code: "FRAME_UNKNOWN_KIND", bytes: () => prefix(7, 2, 0) },
    { name: "kind 255", code: "FRAME_UNKNOWN_KIND", bytes: () => prefix(255, 0, 0) },
    { name: "a data frame with a header", code: "FRAME_BAD_HEADER", bytes: () => Buffer.concat([prefix(FrameKind.DATA, 2, 1), Buffer.from("{}x")]) },
    { name: "a request with a payload", code: "FRAME_BAD_HEADER", bytes: () => Buffer.concat([prefix(FrameKind.REQUEST, 2, 1), Buffer.from("{}x")]) },
    { name: "a header that is not JSON", code: "FRAME_BAD_HEADER", bytes: () => Buffer.concat([prefix(FrameKind.REQUEST, 9, 0), Buffer.from("{op:'x'}!")]) },
    { name: "a header cut inside a JSON string", code: "FRAME_BAD_HEADER", bytes: () => Buffer.concat([prefix(FrameKind.REQUEST, 6, 0), Buffer.from('{"op":')]) },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.code}`, () => {
      const d = new FrameDecoder();
      d.push(encodePreamble());
      assert.equal(codeOf(() => d.push(c.bytes())), c.code);
    });
  }

  it("a wrong protocol version → PROTOCOL_VERSION", () => {
    for (const v of [0, PROTOCOL_VERSION + 1, 0xffff]) {
      assert.equal(codeOf(() => new FrameDecoder().push(encodePreamble(v))), "PROTOCOL_VERSION", `version ${v}`);
    }
  });

  it("garbage instead of the magic → HANDSHAKE_FAILED after MAX_STRAY bytes, never a frame", () => {
    const d = new FrameDecoder();
    const junk = Buffer.alloc(4096, "y");
    let code = "";
    for (let sent = 0; sent <= MAX_STRAY + junk.length && code === ""; sent += junk.length) {
      try {
        assert.deepEqual(d.push(junk), []);
      } catch (err) {
        assert.ok(err instanceof ImzError);
        code = err.code;
      }
    }
    assert.equal(code, "HANDSHAKE_FAILED");
  });

  it("a stream that ends before the magic leaves no frames and ends without a truncation error", () => {
    const d = new FrameDecoder();
    assert.deepEqual(d.push(MAGIC.subarray(0, 5)), []);
    d.end(); // the connection reports HANDSHAKE_FAILED for this; the codec has no frame to call truncated
    assert.equal(d.peerVersion, undefined);
  });

  it("encoding refuses oversized parts with FRAME_TOO_LARGE", () => {
    assert.equal(codeOf(() => encodeFrame(FrameKind.DATA, 1, 0, undefined, Buffer.alloc(MAX_PAYLOAD + 1))), "FRAME_TOO_LARGE");
    assert.equal(codeOf(() => encodeFrame(FrameKind.REQUEST, 1, 0, { op: "x", s: "y".repeat(MAX_HEADER) })), "FRAME_TOO_LARGE");
  });
});

describe("codec: properties", () => {
  const header = fc.oneof(
    fc.constant(undefined),
    fc.record({ op: fc.string({ minLength: 1, maxLength: 10 }), v: fc.jsonValue({ maxDepth: 3 }) }),
  );
  const spec: fc.Arbitrary<Spec> = fc.oneof(
    fc.record({ kind: fc.constant(FrameKind.DATA as FrameKindValue), from: fc.nat(), to: fc.nat(), payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) }),
    fc.record({
      kind: fc.constantFrom<FrameKindValue>(FrameKind.REQUEST, FrameKind.MESSAGE, FrameKind.REPLY, FrameKind.END_OF_DATA, FrameKind.END_OF_REQUEST),
      from: fc.nat(),
      to: fc.nat(),
      header,
    }),
  );

  it("random frame lists survive random chunking", () => {
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 20 }), (specs, cuts) => {
        const bytes = stream(specs);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Buffer[] = [];
        let last = 0;
        for (const p of [...points, bytes.length]) {
          chunks.push(bytes.subarray(last, p));
          last = p;
        }
        // JSON drops undefined members and -0; compare with what JSON gives back
        const want = specs.map((s) => ({ ...expected(s), header: s.header === undefined ? undefined : JSON.parse(JSON.stringify(s.header)) }));
        assert.deepEqual(decodeChunks(chunks), want);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  /** Feeds `chunks` then ends; returns normally or throws only an ImzError with a decoder code. */
  function feedStrictly(chunks: Uint8Array[]): void {
    const d = new FrameDecoder();
    try {
      for (const c of chunks) d.push(Buffer.from(c));
      d.end();
    } catch (err) {
      if (!(err instanceof ImzError) || !DECODER_CODES.has(err.code)) throw new Error(`unexpected throw: ${String(err)}`, { cause: err });
    }
  }

  it("random bytes never throw anything but an ImzError with a framing code", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => feedStrictly(chunks)),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("random bytes after a valid preamble never throw anything but an ImzError with a framing code", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => feedStrictly([encodePreamble(), ...chunks])),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it("valid streams with random bytes flipped never throw anything but framing errors", () => {
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 8 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }), (specs, flips) => {
        const bytes = Buffer.from(stream(specs));
        for (const [at, x] of flips) bytes[at % bytes.length]! ^= x;
        feedStrictly([bytes]);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});
