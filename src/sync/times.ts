/**
 * Setting file times to the nanosecond through the librsync addon's `utimensat` (Node's
 * `fs.utimes` goes through doubles and loses digits), never following a final symlink.
 */
import { utimensatSync } from "./delta/native.js";

/** Sets the mtime (and atime) of `file` to `mtimeNs`. */
export function setMtime(file: string, mtimeNs: string): void {
  const ns = BigInt(mtimeNs);
  utimensatSync(file, ns, ns, true);
}
