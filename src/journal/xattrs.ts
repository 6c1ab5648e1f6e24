/**
 * Extended attributes as records and the Fsdb carry them: an object's whole *xattr set*, the
 * attributes of the replicated namespaces — `user.*` and the POSIX ACLs the kernel keeps as
 * `system.posix_acl_access` / `system.posix_acl_default` (rsync's `-X -A`) — each name mapped to its
 * value in base64. A record's `attrs.xattrs` is the object's complete set after the change (absent:
 * unchanged), so folding keeps the last one and applying it is "make the object's set equal this".
 * Other namespaces (`security.*`, `trusted.*`) belong to the host and are never carried.
 * Pure: the system calls are in `filter/xattr-io.ts`.
 */
import { Type, TypeCompiler, type Static, type TypeCheck } from "../schema.js";
import { ImzError } from "../errors.js";

/** The names carried: `user.*` and the two POSIX ACLs. */
export const XATTR_NAME_PATTERN = "^(user\\.[^\\x00]{1,250}|system\\.posix_acl_(access|default))$";
const NAME = new RegExp(XATTR_NAME_PATTERN, "u");

/** Largest value, in bytes (the kernel's `XATTR_SIZE_MAX`). */
export const XATTR_VALUE_MAX = 65536;
/** Largest set, names and values together, in bytes: a larger one is a per-path problem, never carried. */
export const XATTR_SET_MAX = 65536;
/** Most names in one set. */
export const XATTR_NAMES_MAX = 256;

/** A set on the wire and in the journal: name → base64 value (bounded; names of the carried namespaces only). */
export const XattrsSchema = Type.Record(
  Type.String({ pattern: XATTR_NAME_PATTERN }),
  Type.String({ maxLength: Math.ceil(XATTR_VALUE_MAX / 3) * 4, pattern: "^[A-Za-z0-9+/]*={0,2}$" }),
  { maxProperties: XATTR_NAMES_MAX, additionalProperties: false },
);
/** See {@link XattrsSchema}. */
export type Xattrs = Static<typeof XattrsSchema>;

/** True for a name this program replicates. */
export function isCarried(name: string): boolean {
  return NAME.test(name);
}

/** Bytes a set takes (names and values), the measure {@link XATTR_SET_MAX} bounds. */
export function xattrsSize(x: Xattrs): number {
  let n = 0;
  for (const [k, v] of Object.entries(x)) n += Buffer.byteLength(k) + Math.floor((v.length * 3) / 4) - (v.endsWith("==") ? 2 : v.endsWith("=") ? 1 : 0);
  return n;
}

/** Throws `RECORD_INVALID` when a set (already schema-checked) is larger than {@link XATTR_SET_MAX}. */
export function checkXattrsSize(x: Xattrs): void {
  const n = xattrsSize(x);
  if (n > XATTR_SET_MAX) {
    throw new ImzError("RECORD_INVALID", `extended attributes of ${n} bytes exceed ${XATTR_SET_MAX}`, {
      hint: "the journal or the peer sent a record this version does not accept",
    });
  }
}

/** The set with its names in one order (so equal sets give equal text). */
export function canonicalXattrs(x: Xattrs): Xattrs {
  return Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The Fsdb's text of a set: "" for none, else its canonical JSON. */
export function xattrsText(x: Xattrs): string {
  return Object.keys(x).length === 0 ? "" : JSON.stringify(canonicalXattrs(x));
}

/** The set an Fsdb text describes ("" is the empty set). */
export function xattrsOfText(text: string): Xattrs {
  return text === "" ? {} : (JSON.parse(text) as Xattrs);
}

let checkXattrs: TypeCheck<typeof XattrsSchema> | undefined;

/** The set an Fsdb text from a peer describes (a `getattr` object), checked; throws `RECORD_INVALID`. */
export function parseXattrsText(text: string): Xattrs {
  let value: unknown;
  try {
    value = text === "" ? {} : JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (!(checkXattrs ??= TypeCompiler.Compile(XattrsSchema)).Check(value)) {
    throw new ImzError("RECORD_INVALID", "the peer sent extended attributes this version does not accept");
  }
  checkXattrsSize(value);
  return value;
}

/** True when two sets hold the same names with the same values. */
export function sameXattrs(a: Xattrs, b: Xattrs): boolean {
  return xattrsText(a) === xattrsText(b);
}
