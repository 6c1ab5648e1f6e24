/**
 * The signature of a patched file, made from its basis's signature: every block of the new file
 * that a delta's COPY command took whole from a block of the basis, at the basis's own block
 * boundary, has that block's sums already; only the other blocks are read and signed. Blocks are
 * signed independently, so the result is the bytes a full signature pass over the new file gives.
 */
import { ImzError } from "../../errors.js";
import { READ_CHUNK } from "./job.js";
import { SignatureBuilder } from "./signature.js";

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
 * The signature of a version being patched from a basis, built as the patch's output passes: each
 * block the delta copied whole from a basis block boundary takes that block's sums from the basis's
 * signature, and only the other blocks are signed — by two jobs on worker threads, fed in turn
 * through four reused staging buffers of whole blocks (blocks are signed independently, so each
 * job's sums are taken back in the order the buffers were handed out; one job per buffer in turn
 * halves the time the output waits for the signing, the pace of a patch after an insert). The result has the basis signature's format and lengths — the caller
 * checks those are the ones it would choose for the new size — and is the bytes a full signature
 * pass over the new version gives.
 *
 * Follow the delta with {@link PatchSigner.delta} (before the patch takes it) and the patch's output
 * with {@link PatchSigner.output}: output bytes pass only after the commands that made them, so
 * when a block of the output is complete, whether it was copied whole is known.
 */
export class PatchSigner {
  private readonly commands = new DeltaCommands();
  private followed = true;
  private readonly block: number;
  private readonly sum: number;
  private readonly basisBlocks: number;
  /** The two signing jobs: staging buffer `n` of those handed out goes to job `n % 2`. */
  private readonly builders: [SignatureBuilder, SignatureBuilder];
  /** For each block of the new version so far: the basis block it is, or -1 (signed afresh). */
  private readonly sources: number[] = [];
  private copyAt = 0;
  private readonly partial: Buffer;
  private partialLength = 0;
  private readonly staging: Buffer[];
  private stagingLength = 0;
  private stagedBlocks = 0;
  /** Blocks in each staging buffer handed out, in order. */
  private readonly handed: number[] = [];
  private readonly pending: [Promise<void>, Promise<void>] = [Promise.resolve(), Promise.resolve()];
  private settle!: (signature: Buffer | undefined) => void;
  /** The new version's signature once its output has ended; undefined if the delta or output failed. */
  readonly signature = new Promise<Buffer | undefined>((resolve) => (this.settle = resolve));

  constructor(
    private readonly basisSignature: Buffer,
    private readonly basisSize: number,
  ) {
    this.block = basisSignature.readUInt32BE(4);
    const strong = basisSignature.readUInt32BE(8);
    this.sum = 4 + strong;
    this.basisBlocks = (basisSignature.length - SIGNATURE_HEADER) / this.sum;
    const args = { magic: basisSignature.readUInt32BE(0), blockLength: this.block, strongLength: strong };
    this.builders = [new SignatureBuilder(args), new SignatureBuilder(args)];
    this.partial = Buffer.allocUnsafeSlow(this.block);
    const capacity = Math.max(1, Math.floor(READ_CHUNK / this.block)) * this.block;
    this.staging = Array.from({ length: 4 }, () => Buffer.allocUnsafeSlow(capacity));
  }

  /** Passes the delta on (to the patch), following its commands. */
  async *delta(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
    for await (const chunk of chunks) {
      if (this.followed) {
        try {
          this.commands.feed(chunk);
        } catch {
          this.followed = false; // the patch reports a damaged delta; here only the signature is lost
        }
      }
      yield chunk;
    }
  }

  /** Passes the patch's output on, signing the blocks that need it; settles the signature at the end. */
  async *output(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
    let ended = false;
    try {
      for await (const chunk of chunks) {
        if (this.followed) await this.take(chunk).catch(() => void (this.followed = false));
        yield chunk;
      }
      ended = true;
    } finally {
      this.settle(await this.finish(ended).catch(() => undefined));
    }
  }

  private async take(chunk: Buffer): Promise<void> {
    for (let off = 0; off < chunk.length; ) {
      const n = Math.min(this.block - this.partialLength, chunk.length - off);
      if (this.partialLength === 0 && n === this.block) {
        await this.blockDone(chunk.subarray(off, off + n));
      } else {
        chunk.copy(this.partial, this.partialLength, off, off + n);
        this.partialLength += n;
        if (this.partialLength === this.block) {
          this.partialLength = 0;
          await this.blockDone(this.partial);
        }
      }
      off += n;
    }
  }

  /** Block `sources.length` of the new version is complete: `bytes`. */
  private async blockDone(bytes: Buffer): Promise<void> {
    const start = this.sources.length * this.block;
    const end = start + bytes.length;
    const copies = this.commands.copies;
    while (this.copyAt < copies.length && copies[this.copyAt]!.offset + copies[this.copyAt]!.length <= start) this.copyAt++;
    const run = copies[this.copyAt];
    let source = -1;
    if (run !== undefined && run.offset <= start && run.offset + run.length >= end) {
      const j = (run.basisOffset + (start - run.offset)) / this.block;
      if (Number.isInteger(j) && j < this.basisBlocks && Math.min(this.block, this.basisSize - j * this.block) === bytes.length) source = j;
    }
    this.sources.push(source);
    if (source === -1) await this.stage(bytes);
  }

  /** Stages one block (whole; only the version's last may be shorter) for signing. */
  private async stage(bytes: Buffer): Promise<void> {
    if (this.stagingLength + bytes.length > this.staging[0]!.length) await this.flush();
    bytes.copy(this.staging[this.handed.length % 4]!, this.stagingLength);
    this.stagingLength += bytes.length;
    this.stagedBlocks++;
  }

  /**
   * Hands the staging buffer being filled to its job once that job's step on its previous buffer
   * is done (so the buffer filled next, that job's other one, is free again).
   */
  private async flush(): Promise<void> {
    if (this.stagedBlocks === 0) return;
    const n = this.handed.length;
    const job = n % 2;
    await this.pending[job];
    this.pending[job] = this.builders[job]!.update(this.staging[n % 4]!.subarray(0, this.stagingLength));
    this.handed.push(this.stagedBlocks);
    this.stagingLength = 0;
    this.stagedBlocks = 0;
  }

  /** Both jobs' fresh block sums, back in the order their blocks were staged. */
  private async freshSums(): Promise<Buffer> {
    const sums = await Promise.all(this.builders.map(async (b) => (await b.end()).subarray(SIGNATURE_HEADER)));
    const out = Buffer.allocUnsafe(this.handed.reduce((a, k) => a + k, 0) * this.sum);
    const taken = [0, 0];
    let at = 0;
    for (const [n, blocks] of this.handed.entries()) {
      const job = n % 2;
      at += sums[job]!.copy(out, at, taken[job], taken[job]! + blocks * this.sum);
      taken[job]! += blocks * this.sum;
    }
    if (taken[0] !== sums[0]!.length || taken[1] !== sums[1]!.length) throw new ImzError("RS_INTERNAL_ERROR", "a re-signed version's fresh block sums do not add up", { hint: "a bug; report it" });
    return out;
  }

  private async finish(ended: boolean): Promise<Buffer | undefined> {
    if (ended && this.followed && this.partialLength > 0) await this.blockDone(this.partial.subarray(0, this.partialLength));
    const size = this.sources.length === 0 ? 0 : (this.sources.length - 1) * this.block + (this.partialLength || this.block);
    if (!ended || !this.followed || size !== this.commands.size) {
      await Promise.all(this.pending.map((p) => p.catch(() => undefined)));
      for (const b of this.builders) b.close();
      return undefined;
    }
    await this.flush();
    await Promise.all(this.pending);
    const fresh = await this.freshSums();
    const out = Buffer.allocUnsafe(SIGNATURE_HEADER + this.sources.length * this.sum);
    this.basisSignature.copy(out, 0, 0, SIGNATURE_HEADER);
    let next = 0;
    for (const [k, j] of this.sources.entries()) {
      const at = SIGNATURE_HEADER + k * this.sum;
      if (j === -1) {
        fresh.copy(out, at, next, next + this.sum);
        next += this.sum;
      } else {
        this.basisSignature.copy(out, at, SIGNATURE_HEADER + j * this.sum, SIGNATURE_HEADER + (j + 1) * this.sum);
      }
    }
    if (next !== fresh.length) throw new ImzError("RS_INTERNAL_ERROR", "a re-signed version's fresh block sums do not add up", { hint: "a bug; report it" });
    return out;
  }
}
