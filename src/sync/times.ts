/**
 * Setting file times to the nanosecond through the librsync addon's `utimensat` (Node's
 * `fs.utimes` goes through doubles and loses digits), never following a final symlink.
 */
import { utimensat } from "./delta/native.js";

/** Sets the mtime (and atime) of `file` to `mtimeNs`. */
export function setMtime(file: string, mtimeNs: string): Promise<void> {
  const ns = BigInt(mtimeNs);
  return utimensat(file, ns, ns, true);
}
