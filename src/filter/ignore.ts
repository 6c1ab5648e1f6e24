/**
 * Which paths a file set leaves out: `.intermezzo/` always, plus the gitignore-syntax patterns of
 * the root's `.intermezzoignore`.
 */
import fs from "node:fs";
import path from "node:path";
import ignore from "ignore";
import { META_DIR } from "../journal/fileset.js";

/** Name of the per-file-set ignore file at the root. */
export const IGNORE_FILE = ".intermezzoignore";

/**
 * Decides whether a root-relative path (`/`-separated) is excluded; `onlyMeta` is true when no
 * pattern applies (only `.intermezzo/` is excluded).
 */
export type IgnoreTest = ((relPath: string, isDir: boolean) => boolean) & { readonly onlyMeta: boolean };

/** Loads the ignore rules of the file set rooted at `root`. */
export function loadIgnore(root: string): IgnoreTest {
  let text = "";
  try {
    text = fs.readFileSync(path.join(root, IGNORE_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const ig = ignore().add(text);
  const test = (rel: string, isDir: boolean): boolean => {
    if (rel === META_DIR || rel.startsWith(META_DIR + "/")) return true;
    if (text === "") return false;
    return ig.ignores(isDir ? rel + "/" : rel);
  };
  return Object.assign(test, { onlyMeta: text === "" });
}
