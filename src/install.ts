/**
 * Where this installation's own files are: the package root (package.json, `bin/`, the addon in
 * `build/`, the patched FUSE binding under `node_modules/`), found from this module's location,
 * whatever runs it — `src/` under tsx, `dist/` as tsc emits it, or the bundles in `dist/bin/`.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ImzError } from "./errors.js";

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "bin", "intermezzo"))) return dir;
    if (path.dirname(dir) === dir) {
      throw new ImzError("UNSUPPORTED", `intermezzo's installation is incomplete: no package.json with bin/intermezzo above ${from}`, {
        hint: "reinstall from a clone (npm test or bash scripts/setup.sh), and run bin/intermezzo from there",
      });
    }
  }
}

/** The installation's root directory. */
export const PACKAGE_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** An absolute path inside the installation. */
export function installed(...parts: string[]): string {
  return path.join(PACKAGE_ROOT, ...parts);
}
