/**
 * Random hex for names and identities (temp files, lock files' private names, replica and file set
 * ids, conflict entries), read from the kernel's `/dev/urandom`. Taking it from `node:crypto` loaded
 * that module into every sync for a few random bytes: 2–9 ms of a process's start here (it compiles
 * and initialises some twenty internal modules), more than reading the device. `node:crypto` stays
 * the fallback where the device cannot be read (a chroot without `/dev`).
 */
import fs from "node:fs";
import { createRequire } from "node:module";

/** `bytes` random bytes as hex (2 × `bytes` characters). */
export function randomHex(bytes: number): string {
  const buf = Buffer.allocUnsafe(bytes);
  try {
    const fd = fs.openSync("/dev/urandom", fs.constants.O_RDONLY);
    try {
      for (let got = 0; got < bytes; ) {
        const n = fs.readSync(fd, buf, got, bytes - got, null);
        if (n === 0) throw new Error("/dev/urandom: end of file");
        got += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return (createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto")).randomBytes(bytes).toString("hex");
  }
  return buf.toString("hex");
}
