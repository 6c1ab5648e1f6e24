/**
 * Special files (FIFOs, sockets, character and block devices): made with `mknod(2)` (the addon's
 * `native/posix.cc`; Node has no call for it) from the kind records and the Fsdb keep
 * (`SpecialSchema`: `p`, `s`, `c:RDEV`, `b:RDEV`).
 */
import fs from "node:fs";
import { ImzError } from "../errors.js";
import { posix } from "./caller.js";

const TYPE_BITS: Record<string, number> = {
  p: fs.constants.S_IFIFO,
  s: fs.constants.S_IFSOCK,
  c: fs.constants.S_IFCHR,
  b: fs.constants.S_IFBLK,
};

/** Makes the special file `special` at `p` with permission bits `perm` (the umask applies). */
export function mknodSpecial(p: string, special: string, perm: number): void {
  const [kind, rdev] = special.split(":");
  const type = TYPE_BITS[kind ?? ""];
  if (type === undefined) throw new ImzError("RECORD_INVALID", `unknown special file kind '${special}'`);
  posix().mknod(p, type | (perm & 0o7777), Number(rdev ?? 0));
}
