/**
 * Names as the kernel gives them. A name is bytes; almost always valid UTF-8, and then it is carried
 * as that string. A name that is not valid UTF-8 (Latin-1 `caf\xe9`, any stray byte) is carried
 * losslessly as a *raw name*: NUL followed by the hex of its bytes. NUL never occurs in a file name,
 * so the two forms cannot collide, and the encoding is canonical (a raw name is accepted only for
 * bytes that are not valid UTF-8), so no name has two spellings. Records, the Fsdb, JSON headers and
 * paths (`a/\0ff/b`) carry raw names as plain strings — symlink targets likewise ({@link readTarget}); they become bytes again only where the
 * kernel is called ({@link nameBytes}, {@link fsPath}) and a readable escape only where a person
 * reads them ({@link displayPath}).
 */
import fs from "node:fs";
import path from "node:path";

const RAW = "\0";

/** The carried form of name bytes `b`: the string itself when valid UTF-8, else a raw name. */
export function nameOf(b: Buffer): string {
  const s = b.toString("utf8");
  // U+FFFD is what invalid bytes decode to (a valid name may contain it too: compare the bytes)
  if (!s.includes("\uFFFD") || Buffer.from(s, "utf8").equals(b)) return s;
  return RAW + b.toString("hex");
}

/** A symlink's target as carried: like a name, the string when valid UTF-8, else raw. */
export function readTarget(link: string | Buffer): string {
  return nameOf(fs.readlinkSync(link, { encoding: "buffer" }));
}

/** True for a raw name (bytes that are not valid UTF-8). */
export function isRaw(name: string): boolean {
  return name.startsWith(RAW);
}

/**
 * The bytes of a carried name; `undefined` for a malformed raw name (not hex, or bytes that are
 * valid UTF-8 and so have another spelling).
 */
export function rawBytes(name: string): Buffer | undefined {
  const hex = name.slice(1);
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) return undefined;
  const b = Buffer.from(hex, "hex");
  return nameOf(b) === name ? b : undefined;
}

/** A name for a kernel call: the string, or the bytes of a raw name. */
export function nameBytes(name: string): string | Buffer {
  return isRaw(name) ? (rawBytes(name) ?? Buffer.from(name)) : name;
}

/** A root-relative path (`""` for the root) for a kernel call: a string, or bytes when a component is raw. */
export function relBytes(rel: string): string | Buffer {
  if (!rel.includes(RAW)) return rel;
  return Buffer.concat(rel.split("/").flatMap((c, i) => [...(i > 0 ? [Buffer.from("/")] : []), Buffer.from(nameBytes(c))]));
}

/** `root` joined with root-relative `rel`, for a kernel call (bytes when a component is raw). */
export function fsPath(root: string, rel: string): string | Buffer {
  if (!rel.includes(RAW)) return path.join(root, rel);
  return Buffer.concat([Buffer.from(root.endsWith("/") ? root : `${root}/`), relBytes(rel) as Buffer]);
}

/** A raw name's bytes as text a terminal shows: printable ASCII as is, every other byte `\xNN`. */
export function displayName(name: string): string {
  if (!isRaw(name)) return name;
  const b = rawBytes(name) ?? Buffer.from(name.slice(1));
  let out = "";
  for (const byte of b) out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, "0")}`;
  return out;
}

/** A path for a person: each raw component escaped ({@link displayName}). */
export function displayPath(rel: string): string {
  return rel.includes(RAW) ? rel.split("/").map(displayName).join("/") : rel;
}

/**
 * Applies `edit` to the name's bytes seen as Latin-1 text (one character per byte), and carries
 * the result: string operations (a suffix, a split at the last dot) on a raw name keep its bytes.
 */
export function editName(name: string, edit: (text: string) => string): string {
  if (!isRaw(name)) return edit(name);
  return nameOf(Buffer.from(edit((rawBytes(name) ?? Buffer.alloc(0)).toString("latin1")), "latin1"));
}
