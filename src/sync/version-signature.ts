/**
 * How the receiver of a large file's new version gets that version's signature, to keep it
 * (`kept-signatures.ts`): from whole content, built as the bytes are written; from a delta,
 * re-signed from the basis's signature — the blocks the delta copied whole keep their sums, and
 * only the others are read back and signed, in the background once the version is staged.
 */
import fs from "node:fs";
import { resolveSignatureOptions, SignatureBuilder, type SignatureOptions } from "./delta/index.js";
import { DeltaCommands, resign } from "./delta/resign.js";
import { KEEP_SIGNATURE_MIN } from "./kept-signatures.js";

/** A signature builder for whole content of `size` bytes, when it is large enough to keep one. */
export function builderFor(size: number | undefined, options: SignatureOptions): SignatureBuilder | undefined {
  return size !== undefined && size >= KEEP_SIGNATURE_MIN ? new SignatureBuilder(size, options) : undefined;
}

/** The signature of a version being patched from a basis. */
export interface PatchSigning {
  /** Passes the delta on, following its commands (re-signing) — or unchanged. */
  delta(chunks: AsyncIterable<Buffer>): AsyncIterable<Buffer>;
  /** Builds the signature from the patch's output instead (when re-signing cannot be used). */
  builder?: SignatureBuilder;
  /** Once the patched version is complete at `temp` (`bytes` long): its signature, made meanwhile or in the background. */
  finish(temp: string, bytes: number): Promise<Buffer | undefined>;
}

/**
 * How to sign the version of `size` bytes (the size the record states) about to be patched from
 * the basis open at `basis`, whose signature is `basisSignature`: re-signed when the new version's
 * signature takes the basis's format and lengths, else built from the output; undefined below
 * {@link KEEP_SIGNATURE_MIN}.
 */
export function patchSigning(size: number | undefined, basisSignature: Buffer, basis: number, options: SignatureOptions): PatchSigning | undefined {
  if (size === undefined || size < KEEP_SIGNATURE_MIN) return undefined;
  const args = resolveSignatureOptions(size, options);
  const header = Buffer.alloc(12);
  header.writeUInt32BE(args.magic, 0);
  header.writeUInt32BE(args.blockLength, 4);
  header.writeUInt32BE(args.strongLength, 8);
  if (!basisSignature.subarray(0, 12).equals(header)) {
    const builder = builderFor(size, options)!;
    return { delta: (chunks) => chunks, builder, finish: () => builder.signature };
  }
  const basisSize = fs.fstatSync(basis).size;
  const commands = new DeltaCommands();
  let followed = true;
  return {
    async *delta(chunks) {
      for await (const chunk of chunks) {
        if (followed) {
          try {
            commands.feed(chunk);
          } catch {
            followed = false; // the patch reports a damaged delta; here only the signature is lost
          }
        }
        yield chunk;
      }
    },
    finish(temp, bytes) {
      if (!followed || commands.size !== bytes) return Promise.resolve(undefined);
      const fd = fs.openSync(temp, "r"); // the staged file may be renamed or removed meanwhile
      return resign(basisSignature, basisSize, commands.copies, fd, bytes)
        .catch(() => undefined)
        .finally(() => fs.closeSync(fd));
    },
  };
}
