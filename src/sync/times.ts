/**
 * Setting file times with nanosecond precision. Node's `fs.utimes` goes through doubles and loses
 * sub-microsecond digits, so the librsync addon's `utimensat` is used when it is built; the
 * fallback reads back what the kernel kept so the Fsdb always matches the disk.
 */
import fs from "node:fs";
import { createRequire } from "node:module";

type Utimensat = (path: string, atimeNs: bigint, mtimeNs: bigint, noFollow: boolean) => void;

function loadNative(): Utimensat | undefined {
  try {
    const require = createRequire(import.meta.url);
    const binding = require("../../build/Release/imz_rsync.node") as { utimensat?: Utimensat };
    return binding.utimensat;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** Sets the mtime (and atime) of `file` to `mtimeNs`, not following a final symlink. */
export function setMtime(file: string, mtimeNs: string): void {
  const ns = BigInt(mtimeNs);
  if (native) {
    native(file, ns, ns, true);
    return;
  }
  const sec = Number(ns) / 1e9;
  fs.lutimesSync(file, sec, sec);
}
