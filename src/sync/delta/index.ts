/**
 * The delta engine (librsync through the project's own addon): signatures, deltas and patches as
 * Node streams and async functions, byte-compatible with `rdiff`, independent of any transport.
 */
export { chooseBlockLength, chooseStrongLength, resolveSignatureOptions, signatureMagic } from "./options.js";
export { DELTA_MAGIC, EXPECTED_CHANGES, FALSE_MATCH_BITS, MAX_BLOCK_LENGTH, MAX_STRONG_LENGTH, SIGNATURE_MAGIC } from "./options.js";
export type { RollingSum, SignatureArgs, SignatureOptions, StrongHash } from "./options.js";
export { loadSignature, signatureBuffer, signatureFile, signatureOfFile, signatureStream, SignatureBuilder } from "./signature.js";
export type { LoadedSignature, SignatureReadable } from "./signature.js";
export { DELTA_SPLIT_MIN, deltaBuffer, deltaFile, deltaInParts, deltaStream } from "./delta.js";
export { patchBuffer, patchFile, patchStream } from "./patch.js";
export type { PatchResult } from "./patch.js";
export { setRsyncLogger, utimensat } from "./native.js";
export type { JobStats, RsyncLogger } from "./native.js";
export { collect } from "./job.js";
export type { ByteSource, FileRange, InputTap, JobReadable, OpenFile } from "./job.js";
