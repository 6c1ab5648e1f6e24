/**
 * Joining the deltas of consecutive pieces of a file into one `rdiff` delta (issue 13, sixth
 * round). A piece's delta job starts with no state, so where a piece boundary falls inside a run
 * of basis blocks that the new file holds at another offset (after an insert), the block cut there
 * would be sent as literal data by both pieces' jobs. So every piece but the last is deltified a
 * block past its end: the two pieces' deltas then both describe the bytes from the boundary to
 * that point, and the join takes the earlier piece's commands up to a cut and the later one's from
 * it, choosing the cut that sends the fewest literal bytes (in aligned data, and after an insert,
 * none). Commands are re-encoded as librsync encodes them, a COPY continuing the one before it (in
 * the new file and in the basis) merged into it.
 */
import { ImzError } from "../../errors.js";
import { COPY_FIRST, DELTA_MAGIC_BYTES, DeltaCommands, LITERAL_INLINE_MAX, LITERAL_N } from "./resign.js";

/** One command of a delta, placed in the new file: `length` bytes from `offset` on, copied from the basis at `basisOffset`, or the literal `data`. */
export interface Command {
  offset: number;
  length: number;
  basisOffset?: number;
  data?: Buffer;
}

/** The commands of the whole delta `delta` (header included, ending with its end command), placed from `start` of the new file on. */
export function commandsOf(delta: Buffer, start: number): Command[] {
  const parsed = new DeltaCommands(true);
  parsed.feed(delta);
  if (!parsed.complete) throw new ImzError("RS_INTERNAL_ERROR", "a delta piece did not end with an end command", { hint: "a librsync or addon bug; report it" });
  const out: Command[] = [];
  let c = 0;
  let l = 0;
  const { copies, literals } = parsed;
  while (c < copies.length || l < literals.length) {
    if (l >= literals.length || (c < copies.length && copies[c]!.offset < literals[l]!.offset)) {
      const copy = copies[c++]!;
      out.push({ offset: start + copy.offset, length: copy.length, basisOffset: copy.basisOffset });
    } else {
      const lit = literals[l++]!;
      out.push({ offset: start + lit.offset, length: lit.length, data: delta.subarray(lit.deltaAt, lit.deltaAt + lit.length) });
    }
  }
  return out;
}

/** The part of `commands` (in order) inside [`from`, `to`), split where a command crosses either end. */
export function clip(commands: Command[], from: number, to: number): Command[] {
  const out: Command[] = [];
  for (const cmd of commands) {
    const a = Math.max(from, cmd.offset);
    const b = Math.min(to, cmd.offset + cmd.length);
    if (a >= b) continue;
    if (a === cmd.offset && b === cmd.offset + cmd.length) out.push(cmd);
    else if (cmd.data !== undefined) out.push({ offset: a, length: b - a, data: cmd.data.subarray(a - cmd.offset, b - cmd.offset) });
    else out.push({ offset: a, length: b - a, basisOffset: cmd.basisOffset! + (a - cmd.offset) });
  }
  return out;
}

function literalBytes(commands: Command[], from: number, to: number): number {
  let n = 0;
  for (const cmd of commands) if (cmd.data !== undefined) n += Math.max(0, Math.min(to, cmd.offset + cmd.length) - Math.max(from, cmd.offset));
  return n;
}

/**
 * Where to pass from `earlier` (a piece's commands from `boundary` on, its overlap into the next
 * piece) to `later` (the next piece's, from `boundary` on): the offset in the overlap at which
 * taking the earlier piece's commands before it and the later piece's after it sends the fewest
 * literal bytes (the earliest such).
 */
export function cutPoint(earlier: Command[], later: Command[], boundary: number): number {
  const end = earlier.reduce((e, cmd) => Math.max(e, cmd.offset + cmd.length), boundary);
  const candidates = new Set<number>([boundary, end]);
  for (const cmd of earlier) candidates.add(Math.min(end, cmd.offset + cmd.length));
  for (const cmd of later) if (cmd.offset >= boundary && cmd.offset <= end) candidates.add(cmd.offset);
  let best = boundary;
  let bestCost = Infinity;
  for (const c of [...candidates].sort((x, y) => x - y)) {
    const cost = literalBytes(earlier, boundary, c) + literalBytes(later, c, end);
    if (cost < bestCost) {
      best = c;
      bestCost = cost;
    }
  }
  return best;
}

/** Bytes of the shortest big-endian encoding of `n` that librsync uses (1, 2, 4 or 8). */
function width(n: number): 0 | 1 | 2 | 3 {
  return n <= 0xff ? 0 : n <= 0xffff ? 1 : n <= 0xffffffff ? 2 : 3;
}

function putBE(out: Buffer, at: number, n: number, bytes: number): void {
  for (let i = bytes - 1; i >= 0; i--) {
    out[at + i] = n % 256;
    n = Math.floor(n / 256);
  }
}

/**
 * Encodes commands in order as librsync writes them, merging a COPY that continues the previous
 * one (librsync merges its own; literals it writes in commands of at most 32 KiB, kept as they
 * are); the last command is held until the next arrives or {@link Encoder.flush}.
 */
export class Encoder {
  private held: Command | undefined;
  private out: Buffer[] = [];
  private bytes = 0;

  /** Appends a command (its offset following the previous command's end). */
  push(cmd: Command): void {
    const h = this.held;
    if (h !== undefined && h.offset + h.length === cmd.offset) {
      if (cmd.data === undefined && h.data === undefined && h.basisOffset! + h.length === cmd.basisOffset) {
        h.length += cmd.length;
        return;
      }
    }
    this.flush();
    this.held = cmd.data === undefined ? { ...cmd } : cmd;
  }

  /** Raw bytes (the delta's header, or its end command) after the commands pushed so far. */
  raw(bytes: Buffer): void {
    this.flush();
    this.add(bytes);
  }

  /** Takes what is encoded so far, without the held command. */
  take(): Buffer[] {
    const out = this.out;
    this.out = [];
    this.bytes = 0;
    return out;
  }

  /** Bytes encoded and not taken. */
  get pending(): number {
    return this.bytes;
  }

  /** Encodes the held command too. */
  flush(): void {
    const h = this.held;
    this.held = undefined;
    if (h === undefined || h.length === 0) return;
    if (h.data !== undefined) {
      if (h.length <= LITERAL_INLINE_MAX) this.add(Buffer.from([h.length]));
      else {
        const w = width(h.length);
        const head = Buffer.alloc(1 + (1 << w));
        head[0] = LITERAL_N + w;
        putBE(head, 1, h.length, 1 << w);
        this.add(head);
      }
      this.add(h.data);
      return;
    }
    const ow = width(h.basisOffset!);
    const lw = width(h.length);
    const head = Buffer.alloc(1 + (1 << ow) + (1 << lw));
    head[0] = COPY_FIRST + ow * 4 + lw;
    putBE(head, 1, h.basisOffset!, 1 << ow);
    putBE(head, 1 + (1 << ow), h.length, 1 << lw);
    this.add(head);
  }

  private add(b: Buffer): void {
    this.out.push(b);
    this.bytes += b.length;
  }
}

/** The header every delta starts with (its magic), from a piece's delta. */
export function headerOf(delta: Buffer): Buffer {
  return delta.subarray(0, DELTA_MAGIC_BYTES);
}
