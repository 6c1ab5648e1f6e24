/**
 * What the attr and acl packages' tools say of a tree's extended attributes and ACLs, to compare
 * two trees (the tests' reference, independent of the addon that reads them for the sync).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";

/** `getfattr -R -h -d -m-` (every name, every namespace) and `getfacl -R -p -s` of the tree, .intermezzo aside. */
export function xattrDump(root: string): string {
  const names = fs.readdirSync(root).filter((n) => n !== ".intermezzo").sort();
  if (names.length === 0) return "";
  const run = (cmd: string, args: string[]): string => execFileSync(cmd, [...args, ...names], { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
  return run("getfattr", ["-R", "-h", "-d", "-m", "-"]) + run("getfacl", ["-R", "-p", "-s"]);
}
