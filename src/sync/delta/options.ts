/**
 * Signature parameters: the format (hash × rolling checksum → librsync magic number), the block
 * length and the strong sum length, and the project's rule for choosing them from a file's size.
 */
import { ImzError } from "../../errors.js";

/** Strong (per-block) hash of a signature. */
export type StrongHash = "blake2" | "md4";
/** Rolling (weak) checksum of a signature. */
export type RollingSum = "rabinkarp" | "rollsum";

/** librsync 2.3 signature magic numbers (librsync.h `rs_magic_number`). */
export const SIGNATURE_MAGIC = {
  RS_MD4_SIG_MAGIC: 0x72730136,
  RS_BLAKE2_SIG_MAGIC: 0x72730137,
  RS_RK_MD4_SIG_MAGIC: 0x72730146,
  RS_RK_BLAKE2_SIG_MAGIC: 0x72730147,
} as const;

/** The magic number starting every delta. */
export const DELTA_MAGIC = 0x72730236;

/** Largest block length accepted (the addon refuses larger ones, in options and in loaded signatures). */
export const MAX_BLOCK_LENGTH = 1 << 26;

/** Longest strong sum of each hash, in bytes. */
export const MAX_STRONG_LENGTH: Readonly<Record<StrongHash, number>> = { blake2: 32, md4: 16 };

/** How to compute a signature. Omitted fields take the project's choice for the file's size. */
export interface SignatureOptions {
  /** Bytes per block; 0 means librsync's recommendation (what `rdiff` does by default). */
  blockLength?: number;
  /** Bytes of strong sum per block; 0 means the hash's maximum (rdiff's default), -1 librsync's minimum. */
  strongLength?: number;
  /** Default blake2. */
  hash?: StrongHash;
  /** Default rabinkarp. */
  rollsum?: RollingSum;
}

/** The arguments handed to librsync (`rs_sig_begin` after `rs_sig_args`). */
export interface SignatureArgs {
  magic: number;
  blockLength: number;
  strongLength: number;
}

/** The magic number for a hash and rolling checksum (the Rabin-Karp magics are 0x10 above rollsum's). */
export function signatureMagic(hash: StrongHash = "blake2", rollsum: RollingSum = "rabinkarp"): number {
  const base = hash === "blake2" ? SIGNATURE_MAGIC.RS_BLAKE2_SIG_MAGIC : SIGNATURE_MAGIC.RS_MD4_SIG_MAGIC;
  return rollsum === "rabinkarp" ? base + 0x10 : base;
}

const MIN_BLOCK = 512;
const MAX_BLOCK = 128 * 1024;

/** Changed regions per file that {@link chooseBlockLength} is tuned for. */
export const EXPECTED_CHANGES = 11;

/**
 * The block length for a basis of `fileSize` bytes.
 *
 * Rule: `sqrt(fileSize × (4 + S) / 11)` with S the strong sum length ({@link chooseStrongLength} at
 * `sqrt(fileSize)` blocks), rounded up to a multiple of 8 and clamped to [512, 128 KiB].
 *
 * Why: what crosses the wire is the signature, `(fileSize / B) × (4 + S)` bytes for block length B,
 * plus the delta, whose literal bytes grow by up to about B for each changed region. For k changed
 * regions the total `fileSize (4+S) / B + k B` is smallest at `B = sqrt(fileSize (4+S) / k)`.
 * rsync's rule, `B = sqrt(fileSize)`, is that optimum for rsync's own cost per block — about 11
 * bytes: a 4-byte weak sum, a 2–3 byte strong sum, and a 4-byte token in its delta for every
 * matched block — and k ≈ 11. librsync's delta merges adjacent matches into one COPY command, so a
 * block costs us only the 4 + S bytes of its sums; the same assumption about changes (k = 11)
 * then gives blocks about 0.85 × rsync's (S = 4): the signature costs no more bytes than rsync's
 * sums and tokens, and every changed region drags 15% fewer unchanged bytes along as literal.
 * The floor keeps tiny files from paying a block sum per few bytes (below 512 bytes a literal is as
 * cheap as a signature); the cap bounds the literal cost of one edit in a huge file.
 */
export function chooseBlockLength(fileSize: number): number {
  const size = Math.max(0, fileSize);
  const perBlock = 4 + chooseStrongLength(size, Math.max(MIN_BLOCK, Math.sqrt(size)));
  const ideal = Math.sqrt((size * perBlock) / EXPECTED_CHANGES);
  return Math.min(MAX_BLOCK, Math.max(MIN_BLOCK, Math.ceil(ideal / 8) * 8));
}

/** Expected false block matches per delta are kept under 2^-FALSE_MATCH_BITS (see {@link chooseStrongLength}). */
export const FALSE_MATCH_BITS = 20;
/** Bits of librsync's rolling (weak) sum, compared in full before any strong sum. */
const WEAK_BITS = 32;
/** Shortest strong sum chosen, in bytes. */
const MIN_STRONG = 4;

/**
 * The strong sum length (bytes) for a basis of `fileSize` bytes cut into `blockLength` blocks.
 *
 * Rule: the fewest bytes S (at least 4, at most the hash's maximum) with
 * `(fileSize + 2^24) × (blocks + 1) × 2^-(32 + 8S) ≤ 2^-20`.
 *
 * Why: a delta job rolls a 32-bit weak sum over every offset of the new file (taken as up to
 * `fileSize + 16 MiB` bytes) and compares the strong sum only for blocks whose weak sum is equal, so
 * with sums that behave as random the expected number of false block matches in one delta is at
 * most offsets × blocks × 2^-(32 + 8S) — the count rsync's `sum_sizes_sqroot` makes too (rsync keeps
 * it near 2^-11 with 2–3 byte sums; here 2^-20). A false match is never silent: the patched file
 * fails its whole-file BLAKE2b check and is sent again whole. So each strong-sum byte is a trade:
 * it costs `blocks` bytes of signature and saves an expected `E × fileSize` bytes (E the false-match
 * expectation) of retry; at 2^-20 the byte dropped would save about what the retry then costs
 * (256 MiB: 4 bytes, E ≈ 2^-22; 3 bytes would give E ≈ 2^-14, 16 KiB of signature against 16 KiB of
 * expected retry), and the margin buys time, since a retry also costs a whole-file transfer.
 * The floor keeps small signatures from resting on the weak sum alone.
 */
export function chooseStrongLength(fileSize: number, blockLength: number, hash: StrongHash = "blake2"): number {
  const size = Math.max(0, fileSize);
  const blocks = Math.ceil(size / Math.max(1, blockLength));
  const bits = Math.log2(size + 2 ** 24) + Math.log2(blocks + 1) + FALSE_MATCH_BITS - WEAK_BITS;
  return Math.min(MAX_STRONG_LENGTH[hash], Math.max(MIN_STRONG, Math.ceil(bits / 8)));
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ImzError("RS_PARAM_ERROR", `${name} ${value} is out of range [${min}, ${max}]`, {
      hint: `give an integer ${name} between ${min} and ${max}`,
    });
  }
}

/**
 * Resolves options for a basis of `fileSize` bytes (-1 if unknown) into librsync arguments.
 * 0 and -1 pass through so librsync applies its own rules, exactly as `rdiff` does.
 */
export function resolveSignatureOptions(fileSize: number, options: SignatureOptions = {}): SignatureArgs {
  const hash = options.hash ?? "blake2";
  const rollsum = options.rollsum ?? "rabinkarp";
  if (hash !== "blake2" && hash !== "md4") throw new ImzError("RS_PARAM_ERROR", `unknown hash '${String(hash)}'`, { hint: "use blake2 or md4" });
  if (rollsum !== "rabinkarp" && rollsum !== "rollsum") {
    throw new ImzError("RS_PARAM_ERROR", `unknown rollsum '${String(rollsum)}'`, { hint: "use rabinkarp or rollsum" });
  }
  const blockLength = options.blockLength ?? chooseBlockLength(fileSize);
  checkInteger("block length", blockLength, 0, MAX_BLOCK_LENGTH);
  const strongLength = options.strongLength ?? chooseStrongLength(fileSize, blockLength || chooseBlockLength(fileSize), hash);
  checkInteger("strong sum length", strongLength, -1, MAX_STRONG_LENGTH[hash]);
  return { magic: signatureMagic(hash, rollsum), blockLength, strongLength };
}
