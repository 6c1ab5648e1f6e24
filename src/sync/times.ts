/**
 * Setting file times. Node's `fs.utimes` goes through doubles and may lose sub-microsecond digits;
 * callers store what the kernel kept (read back with lstat), so the Fsdb always matches the disk.
 */
import fs from "node:fs";

/** Sets the mtime (and atime) of `file` to `mtimeNs`, not following a final symlink. */
export function setMtime(file: string, mtimeNs: string): void {
  const ns = BigInt(mtimeNs);
  const sec = Number(ns / 1_000_000_000n) + Number(ns % 1_000_000_000n) / 1e9;
  fs.lutimesSync(file, sec, sec);
}
