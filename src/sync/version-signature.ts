/**
 * How the receiver of a large file's new version gets that version's signature, to keep it
 * (`kept-signatures.ts`): from whole content, built as the bytes are written; from a delta,
 * re-signed from the basis's signature as the patch's output passes — the blocks the delta copied
 * whole keep their sums, and only the others are signed.
 */
import fs from "node:fs";
import { resolveSignatureOptions, SignatureBuilder, type SignatureOptions } from "./delta/index.js";
import { PatchSigner } from "./delta/resign.js";
import { KEEP_SIGNATURE_MIN, signatureFits } from "./kept-signatures.js";

/** A signature builder for whole content of `size` bytes, when it is large enough to keep one. */
export function builderFor(size: number | undefined, options: SignatureOptions): SignatureBuilder | undefined {
  return size !== undefined && size >= KEEP_SIGNATURE_MIN ? new SignatureBuilder(resolveSignatureOptions(size, options)) : undefined;
}

/** The signature of a version being patched from a basis. */
export interface PatchSigning {
  /** Passes the delta on to the patch (following its commands, when re-signing). */
  delta(chunks: AsyncIterable<Buffer>): AsyncIterable<Buffer>;
  /** Passes the patch's output on, signing it. */
  output(chunks: AsyncIterable<Buffer>): AsyncIterable<Buffer>;
  /** The new version's signature, once its output has ended; undefined if anything failed. */
  signature: Promise<Buffer | undefined>;
}

/**
 * How to sign the version of `size` bytes (the size the record states) about to be patched from
 * the basis open at `basis`, whose signature is `basisSignature`: re-signed, keeping the basis's
 * format and lengths, when those fit the new size (`signatureFits`: a file that grew or shrank a
 * little keeps its blocks), else built from all of the output with the lengths chosen for the new
 * size; undefined below {@link KEEP_SIGNATURE_MIN}.
 */
export function patchSigning(size: number | undefined, basisSignature: Buffer, basis: number, options: SignatureOptions): PatchSigning | undefined {
  if (size === undefined || size < KEEP_SIGNATURE_MIN) return undefined;
  if (signatureFits(basisSignature, size, options)) {
    const signer = new PatchSigner(basisSignature, fs.fstatSync(basis).size);
    return { delta: (chunks) => signer.delta(chunks), output: (chunks) => signer.output(chunks), signature: signer.signature };
  }
  const builder = new SignatureBuilder(resolveSignatureOptions(size, options));
  return { delta: (chunks) => chunks, output: (chunks) => builder.through(chunks), signature: builder.signature };
}
