/**
 * Reading and writing an object's replicated extended attributes and ACLs (`journal/xattrs.ts`)
 * through the addon's `native/xattr.cc`: the object is named by a directory descriptor and one name
 * (a `Place` beneath the root) or by a whole path with {@link AT_FDCWD} (the filter, whose paths the
 * kernel resolved inside the mount), and a symlink at that name is never followed.
 */
import { ImzError } from "../errors.js";
import { binding } from "../sync/delta/native.js";
import { canonicalXattrs, isCarried, xattrsSize, XATTR_SET_MAX, type Xattrs } from "../journal/xattrs.js";

/** `openat`'s "relative to the working directory": the name is then a path. */
export const AT_FDCWD = -100;

type Bytes = string | Buffer;
interface XattrBinding {
  xattrList(dir: number, name: Bytes): Array<[string, Buffer]>;
  xattrGet(dir: number, name: Bytes, attr: string): Buffer;
  xattrSet(dir: number, name: Bytes, attr: string, value: Buffer, flags: number): void;
  xattrRemove(dir: number, name: Bytes, attr: string): void;
}

/** The addon's xattr calls (every name and value as the kernel has them). */
export const xattrNative = (): XattrBinding => binding() as unknown as XattrBinding;

/** True for the errno codes of a filesystem (or object) that keeps no extended attributes of that kind. */
export function isUnsupported(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "EOPNOTSUPP" || code === "ENOTSUP";
}

/**
 * The object's carried set, or undefined when its filesystem keeps no extended attributes
 * (EOPNOTSUPP: nothing to compare, so nothing is ever journaled from it). Throws the errno error
 * otherwise, and `UNSUPPORTED` for a set larger than {@link XATTR_SET_MAX}.
 */
export function readXattrs(dir: number, name: Bytes): Xattrs | undefined {
  let list: Array<[string, Buffer]>;
  try {
    list = xattrNative().xattrList(dir, name);
  } catch (err) {
    if (isUnsupported(err)) return undefined;
    throw err;
  }
  const out: Xattrs = {};
  for (const [k, v] of list) if (isCarried(k)) out[k] = v.toString("base64");
  if (xattrsSize(out) > XATTR_SET_MAX) {
    throw new ImzError("UNSUPPORTED", `extended attributes of ${xattrsSize(out)} bytes exceed ${XATTR_SET_MAX}; not replicated`);
  }
  return canonicalXattrs(out);
}

/**
 * Makes the object's carried set equal `want`: names it lacks are removed, new or different values
 * set (the POSIX ACLs after the others, so an access ACL's mask is the last word on the mode's group
 * bits). Throws the errno error of the first call that fails (EOPNOTSUPP where the filesystem keeps
 * none: see {@link isUnsupported}).
 */
export function writeXattrs(dir: number, name: Bytes, want: Xattrs): void {
  const have = readXattrs(dir, name);
  const x = xattrNative();
  for (const k of Object.keys(have ?? {})) if (want[k] === undefined) x.xattrRemove(dir, name, k);
  const order = Object.keys(want).sort((a, b) => Number(a.startsWith("system.")) - Number(b.startsWith("system.")));
  for (const k of order) if (have?.[k] !== want[k]) x.xattrSet(dir, name, k, Buffer.from(want[k]!, "base64"), 0);
}
