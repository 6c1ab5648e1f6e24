/**
 * The small-file tree the sync benchmarks generate: `files` files of 7 B–4 KB spread over `dirs`
 * directories (`d0000/f0.txt`, …), the same tree for `bench/sync-tree`, `bench/resync`,
 * `bench/memory` and `bench/journal-floor`.
 */
import fs from "node:fs";
import path from "node:path";

/** The content of file `n` of the tree: 7 B–4 KB. */
export function smallFileContent(n: number): string {
  return `file ${n} `.repeat(1 + (n % 400));
}

/** Writes the tree under `root`; directory names carry `pad` digits. */
export function makeSmallTree(root: string, files: number, dirs: number, pad = 4): void {
  const per = Math.ceil(files / dirs);
  let n = 0;
  for (let d = 0; d < dirs && n < files; d++) {
    const dir = path.join(root, `d${String(d).padStart(pad, "0")}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < per && n < files; f++, n++) fs.writeFileSync(path.join(dir, `f${f}.txt`), smallFileContent(n));
  }
}
