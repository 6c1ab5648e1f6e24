/**
 * Whole-file content hash: BLAKE2b-512 truncated to 256 bits, hex. Equal hashes mean equal content;
 * every patched or copied file is checked against it before it replaces anything.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";

/** Length in hex characters of a {@link hashFile} result. */
export const HASH_HEX_LENGTH = 64;

/** A fresh hasher; feed it bytes and call {@link digestHex}. */
export function newContentHasher(): ReturnType<typeof createHash> {
  return createHash("blake2b512");
}

/** The truncated hex digest of a hasher from {@link newContentHasher}. */
export function digestHex(h: ReturnType<typeof createHash>): string {
  return h.digest("hex").slice(0, HASH_HEX_LENGTH);
}

/** Content hash of a buffer. */
export function hashBuffer(buf: Uint8Array): string {
  return digestHex(newContentHasher().update(buf));
}

/** Files up to this size are hashed with one synchronous read (cheaper than thread-pool round trips). */
const SMALL_FILE = 64 * 1024;

/** Content hash of a file, streamed (constant memory). */
export async function hashFile(file: string): Promise<string> {
  const h = newContentHasher();
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    if (size < SMALL_FILE) {
      const buf = Buffer.allocUnsafe(SMALL_FILE);
      for (let n; (n = fs.readSync(fd, buf, 0, SMALL_FILE, null)) > 0; ) h.update(buf.subarray(0, n));
      return digestHex(h);
    }
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await new Promise<{ bytesRead: number }>((resolve, reject) =>
        fs.read(fd, buf, 0, buf.length, null, (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead }))),
      );
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    fs.closeSync(fd);
  }
  return digestHex(h);
}
