/**
 * Paths below the holding location that are longer than the kernel takes. A path the kernel
 * accepts inside the mount (up to PATH_MAX from the caller's working directory) is longer below
 * it, by the holding location's own path and the mount-relative prefix: a system call on
 * `root + mountPath` fails with ENAMETOOLONG where the same call through the mount must work.
 * {@link withPath} hands such a path to the kernel in pieces: each piece is opened as a directory
 * and the next one is resolved from it through `/proc/self/fd/N/…` (a descriptor-relative lookup
 * that Node's `fs` can make), so every `fs` call works unchanged on any path.
 */
import fs from "node:fs";

/** PATH_MAX on Linux, with its terminating NUL. */
const PATH_MAX = 4096;
/** Longest piece resolved at once: room for `/proc/self/fd/NNNNNNNNNN/`. */
const PIECE_MAX = PATH_MAX - 64;

/** Runs `fn` with a path to absolute path `abs` that the kernel accepts (`abs` itself when short). */
export function withPath<T>(abs: string, fn: (p: string) => T): T {
  if (Buffer.byteLength(abs) < PATH_MAX) return fn(abs);
  const fds: number[] = [];
  try {
    let rest = abs;
    let base = "";
    while (Buffer.byteLength(base + rest) >= PATH_MAX) {
      const cut = lastSlashWithin(rest, PIECE_MAX - Buffer.byteLength(base));
      const fd = fs.openSync(base + rest.slice(0, cut), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      fds.push(fd);
      base = `/proc/self/fd/${fd}/`;
      rest = rest.slice(cut + 1);
    }
    return fn(base + rest);
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
}

/** Index of the last `/` of `s` whose prefix fits in `max` bytes (ENAMETOOLONG when none). */
function lastSlashWithin(s: string, max: number): number {
  let cut = -1;
  for (let i = s.indexOf("/", 1); i !== -1 && Buffer.byteLength(s.slice(0, i)) <= max; i = s.indexOf("/", i + 1)) cut = i;
  if (cut <= 0) throw Object.assign(new Error(`ENAMETOOLONG: a path component is too long: ${s.slice(0, 64)}…`), { code: "ENAMETOOLONG" });
  return cut;
}
