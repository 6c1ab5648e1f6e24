/**
 * The whole-file hash checked after every patch: BLAKE2b-512 (node:crypto "blake2b512") truncated
 * to 32 bytes, as 64 hex digits. Truncating a BLAKE2b digest keeps its strength for that length.
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";

/** Hex digits in a whole-file hash. */
export const WHOLE_HASH_HEX_LENGTH = 64;

/** An incremental whole-file hash. */
export function createWholeHash(): Hash {
  return createHash("blake2b512");
}

/** Finishes an incremental hash from {@link createWholeHash} as 64 hex digits. */
export function finishWholeHash(hash: Hash): string {
  return hash.digest("hex").slice(0, WHOLE_HASH_HEX_LENGTH);
}

/** The whole-file hash of in-memory bytes. */
export function wholeBufferHash(data: Uint8Array): string {
  return finishWholeHash(createWholeHash().update(data));
}

/** The whole-file hash of the file at `path`. */
export async function wholeFileHash(path: string): Promise<string> {
  const hash = createWholeHash();
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return finishWholeHash(hash);
}
