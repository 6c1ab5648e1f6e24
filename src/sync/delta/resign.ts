/**
 * The signature of a patched file, made from its basis's signature: every block of the new file
 * that a delta's COPY command took whole from a block of the basis, at the basis's own block
 * boundary, has that block's sums already; only the other blocks are read and signed. Blocks are
 * signed independently, so the result is the bytes a full signature pass over the new file gives.
 */
import { ImzError } from "../../errors.js";
import { collect, READ_CHUNK, readAt, runJob, type OpenFile } from "./job.js";
import { signatureJob } from "./native.js";

/** `length` bytes of the new file from `offset` on are the basis's bytes from `basisOffset` on. */
export interface CopyRun {
  offset: number;
  basisOffset: number;
  length: number;
}

/** Bytes of a delta's magic, and of a signature's header (magic, block length, strong sum length). */
const DELTA_MAGIC_BYTES = 4;
const SIGNATURE_HEADER = 12;
/** librsync's opcodes: literals of 1–64 bytes inline, then literals with a 1/2/4/8-byte length, then COPY with 1/2/4/8-byte offset × length. */
const LITERAL_INLINE_MAX = 0x40;
const LITERAL_N = 0x41;
const COPY_FIRST = 0x45;
const COPY_LAST = 0x54;
const WIDTHS = [1, 2, 4, 8] as const;

function readBE(bytes: Buffer, at: number, width: number): number {
  let n = 0;
  for (let i = 0; i < width; i++) n = n * 256 + bytes[at + i]!;
  return n;
}

/**
 * Follows an `rdiff` delta as it passes (chunks in order) and notes its COPY commands with their
 * offsets in the new file. Throws `RS_CORRUPT` on an opcode librsync does not write.
 */
export class DeltaCommands {
  readonly copies: CopyRun[] = [];
  /** Bytes of the new file described so far. */
  size = 0;
  private pending = Buffer.alloc(0);
  private skipHeader = DELTA_MAGIC_BYTES;
  private literalLeft = 0;
  private ended = false;

  /** Takes the next chunk of the delta. */
  feed(chunk: Buffer): void {
    let at = 0;
    if (this.skipHeader > 0) {
      const n = Math.min(this.skipHeader, chunk.length);
      this.skipHeader -= n;
      at = n;
    }
    while (at < chunk.length && !this.ended) {
      if (this.literalLeft > 0) {
        const n = Math.min(this.literalLeft, chunk.length - at);
        this.literalLeft -= n;
        at += n;
        continue;
      }
      // a command: opcode and parameters, possibly split across chunks
      const bytes = this.pending.length > 0 ? Buffer.concat([this.pending, chunk.subarray(at, at + 17)]) : chunk.subarray(at);
      const used = this.command(bytes);
      if (used === 0) {
        this.pending = Buffer.from(bytes.subarray(0, Math.min(bytes.length, 17)));
        return;
      }
      at += used - this.pending.length;
      this.pending = Buffer.alloc(0);
    }
  }

  /** Decodes one command at the start of `bytes`; returns the bytes it took, 0 when it is incomplete. */
  private command(bytes: Buffer): number {
    const op = bytes[0]!;
    if (op === 0) {
      this.ended = true;
      return 1;
    }
    if (op <= LITERAL_INLINE_MAX) {
      this.literal(op);
      return 1;
    }
    if (op < COPY_FIRST) {
      const width = WIDTHS[op - LITERAL_N]!;
      if (bytes.length < 1 + width) return 0;
      this.literal(readBE(bytes, 1, width));
      return 1 + width;
    }
    if (op > COPY_LAST) throw new ImzError("RS_CORRUPT", `delta opcode 0x${op.toString(16)} is not one librsync writes`, { hint: "the delta is damaged" });
    const startWidth = WIDTHS[(op - COPY_FIRST) >> 2]!;
    const lengthWidth = WIDTHS[(op - COPY_FIRST) & 3]!;
    if (bytes.length < 1 + startWidth + lengthWidth) return 0;
    const basisOffset = readBE(bytes, 1, startWidth);
    const length = readBE(bytes, 1 + startWidth, lengthWidth);
    this.copies.push({ offset: this.size, basisOffset, length });
    this.size += length;
    return 1 + startWidth + lengthWidth;
  }

  private literal(length: number): void {
    this.literalLeft = length;
    this.size += length;
  }
}

/**
 * The signature of the new file open at `file` (`size` bytes), patched from a basis of `basisSize`
 * bytes whose signature is `basisSignature`, by a delta whose COPY commands are `copies` (in order).
 * The new file's signature has the basis signature's format and lengths (the caller checks those
 * are the ones it would choose for `size`). Reads only the blocks it cannot take over.
 */
export async function resign(basisSignature: Buffer, basisSize: number, copies: readonly CopyRun[], file: OpenFile, size: number): Promise<Buffer> {
  const magic = basisSignature.readUInt32BE(0);
  const block = basisSignature.readUInt32BE(4);
  const strong = basisSignature.readUInt32BE(8);
  const sum = 4 + strong;
  const basisBlocks = (basisSignature.length - SIGNATURE_HEADER) / sum;
  const blocks = Math.ceil(size / block);
  const lengthOf = (k: number, total: number): number => Math.min(block, total - k * block);
  // for each new block, the basis block it is (or -1)
  const source = new Int32Array(blocks).fill(-1);
  let c = 0;
  for (let k = 0; k < blocks; k++) {
    const start = k * block;
    const end = start + lengthOf(k, size);
    while (c < copies.length && copies[c]!.offset + copies[c]!.length <= start) c++;
    const run = copies[c];
    if (run === undefined || run.offset > start || run.offset + run.length < end) continue;
    const from = run.basisOffset + (start - run.offset);
    const j = from / block;
    if (Number.isInteger(j) && j < basisBlocks && lengthOf(j, basisSize) === end - start) source[k] = j;
  }
  // The other blocks, signed by one job in order (each block's sums depend on that block alone),
  // read through one buffer (the job is done with a chunk before it asks for the next; a buffer
  // per run of blocks would cost page faults comparable to the signing).
  async function* fresh(): AsyncGenerator<Buffer> {
    const buffer = Buffer.allocUnsafeSlow(READ_CHUNK);
    for (let k = 0; k < blocks; k++) {
      if (source[k] !== -1) continue;
      let last = k;
      while (last + 1 < blocks && source[last + 1] === -1) last++;
      const end = Math.min(size, (last + 1) * block);
      for (let pos = k * block; pos < end; ) {
        const { bytesRead } = await readAt(file, buffer, Math.min(READ_CHUNK, end - pos), pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
      k = last;
    }
  }
  const job = signatureJob(magic, block, strong, size);
  const signed = (await collect(runJob(job, fresh()))).subarray(SIGNATURE_HEADER);
  const out = Buffer.allocUnsafe(SIGNATURE_HEADER + blocks * sum);
  basisSignature.copy(out, 0, 0, SIGNATURE_HEADER);
  let next = 0;
  for (let k = 0; k < blocks; k++) {
    const j = source[k]!;
    if (j === -1) {
      signed.copy(out, SIGNATURE_HEADER + k * sum, next, next + sum);
      next += sum;
    } else {
      basisSignature.copy(out, SIGNATURE_HEADER + k * sum, SIGNATURE_HEADER + j * sum, SIGNATURE_HEADER + (j + 1) * sum);
    }
  }
  if (next !== signed.length) throw new ImzError("RS_INTERNAL_ERROR", "a re-signed file's fresh block sums do not add up", { hint: "a bug; report it" });
  return out;
}
