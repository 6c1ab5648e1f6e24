/**
 * The scanner's directory walk in native code: one directory per call, read with `getdents64` and
 * stat'ed with `statx` relative to the directory's descriptor on a worker thread, returned as one
 * packed buffer (see `native/walk.cc`). Each entry carries a *print*, a text of every stat field
 * the scanner compares; the Fsdb computes the same text from a row (`Fsdb.childPrints`), so an
 * unchanged entry is recognised by one string comparison, with no stat object and no row object,
 * and an unchanged directory by its *whole* text (`Fsdb.childrenWhole`) — by the text's digest
 * once the Fsdb has remembered it (`Fsdb.matchesWhole`).
 */
import { isUtf8 } from "node:buffer";
import { getSystemErrorMap } from "node:util";
import { nameOf } from "../journal/names.js";
import { binding } from "../sync/delta/native.js";
import { compactStat, type EntryStat } from "./object-stat.js";

/** `f` file, `d` directory, `l` symlink, `?` FIFO/socket/device, `E` statx failed (stat it again to see why). */
export type WalkKind = "f" | "d" | "l" | "?" | "E";

/** One entry as the native walk saw it. */
export interface WalkEntry {
  name: string;
  kind: WalkKind;
  /** `kind:dev:ino:ctimeNs:size:mtimeNs:mode:uid:gid` (`!`-prefixed when born after its ctime); "" for `E`. */
  print: string;
  /** `nlink:birthtimeNs`, then `:hash` for a file the walk hashed and `:0` when it lists no extended attribute (see {@link walkedRead}); "" for `E`. */
  extra: string;
}

/**
 * A directory's listing: its own entry (name "") and its entries in `fs.readdir` order, decoded
 * only when asked for, plus the *whole* text of the directory (see `Fsdb.childrenWhole`). When the
 * walk was given the digest the Fsdb remembers for the directory and found it again
 * ({@link DirListing.omitted}), the listing holds only the directory's own entry and its
 * subdirectories: what the scanner reads of an unchanged directory.
 */
export class DirListing {
  /** The directory itself, as `lstat` of its path sees it. */
  readonly self: WalkEntry;
  /** A digest of {@link whole} (32 bytes), null when there is no whole text. */
  readonly wholeDigest: Buffer | null;
  /**
   * The whole text's digest was the one the walk was given (`walkDir`'s `known`): the whole text
   * and every entry but the subdirectories were left out ({@link entries} throws; {@link count}
   * and {@link directories} answer).
   */
  readonly omitted: boolean;
  private readonly wholeBytes: Buffer | null;
  /** Offset of the first record (the directory's own). */
  private readonly selfAt: number;
  private readonly recordsAt: number;

  constructor(private readonly buf: Buffer) {
    const wholeLen = buf.readUInt32LE(0);
    const textAt = 12 + 4 * buf.readUInt32LE(8);
    this.omitted = wholeLen === OMITTED;
    const bytes = wholeLen === NO_WHOLE || this.omitted ? null : buf.subarray(textAt + DIGEST_BYTES, textAt + DIGEST_BYTES + wholeLen);
    // a name that is not UTF-8 (a raw name in the Fsdb) has no whole text: the entries are compared one by one
    this.wholeBytes = bytes !== null && isUtf8(bytes) ? bytes : null;
    this.wholeDigest = this.omitted || this.wholeBytes !== null ? buf.subarray(textAt, textAt + DIGEST_BYTES) : null;
    this.selfAt = this.omitted ? textAt + DIGEST_BYTES : bytes === null ? textAt : textAt + DIGEST_BYTES + wholeLen;
    const [self, next] = readEntry(buf, this.selfAt);
    this.self = self;
    this.recordsAt = next;
  }

  /** `name/print/...` over all entries in name order; null when one is not a file or directory with a plain print, or its name is not UTF-8. Decoded when asked for. */
  get whole(): string | null {
    return this.wholeBytes === null ? null : this.wholeBytes.toString("utf8");
  }

  /** Every entry, decoded. */
  entries(): WalkEntry[] {
    if (this.omitted) throw new Error("walkDir: the entries of a directory found unchanged were left out");
    const out: WalkEntry[] = [];
    for (let at = this.recordsAt; at < this.buf.length; ) {
      const [entry, next] = readEntry(this.buf, at);
      out.push(entry);
      at = next;
    }
    return out;
  }

  /** How many entries (the walk counted them). */
  count(): number {
    return this.buf.readUInt32LE(4);
  }

  /** The entries that are directories, decoded (found by the offsets the walk listed; the others are not touched). */
  directories(): WalkEntry[] {
    const out: WalkEntry[] = [];
    for (let i = 0, n = this.buf.readUInt32LE(8); i < n; i++) out.push(readEntry(this.buf, this.selfAt + this.buf.readUInt32LE(12 + 4 * i))[0]);
    return out;
  }
}

/**
 * A regular file's stat as the walk saw it (its print and extra hold every field {@link EntryStat}
 * has; a file's `rdev` is 0), so the scanner compares a new or changed file without another
 * `lstat` of it; undefined for any other kind (those are `lstat`ed: a symlink's target, a special
 * file's device number, a directory's size are not in the print).
 */
export function fileStat(entry: WalkEntry): EntryStat | undefined {
  if (entry.kind !== "f") return undefined;
  // [!]f:dev:ino:ctimeNs:size:mtimeNs:mode:uid:gid and nlink:birthtimeNs
  const p = entry.print.split(":");
  const [nlink, birth] = entry.extra.split(":");
  const mode = 0o100000n | BigInt(p[6]!);
  return compactStat(BigInt(p[1]!), BigInt(p[2]!), mode, BigInt(nlink!), BigInt(p[7]!), BigInt(p[8]!), 0n, BigInt(p[4]!), BigInt(p[5]!), BigInt(p[3]!), BigInt(birth!));
}

/** Bytes of {@link DirListing.wholeDigest} (`native/walk.cc`). */
const DIGEST_BYTES = 32;
/** The whole text's length when there is none (`native/walk.cc`). */
const NO_WHOLE = 0xffffffff;
/** The whole text's length when the walk found the digest it was given and left the entries out. */
const OMITTED = 0xfffffffe;

/** Decodes the record at `at`; returns it and the offset of the next. */
function readEntry(buf: Buffer, at: number): [WalkEntry, number] {
  const nameAt = at + 8;
  const printAt = nameAt + buf.readUInt16LE(at + 2);
  const extraAt = printAt + buf.readUInt16LE(at + 4);
  const end = extraAt + buf.readUInt16LE(at + 6);
  const entry: WalkEntry = {
    kind: String.fromCharCode(buf[at]!) as WalkKind,
    name: nameOf(buf.subarray(nameAt, printAt)),
    print: buf.toString("latin1", printAt, extraAt),
    extra: buf.toString("latin1", extraAt, end),
  };
  return [entry, end];
}

/** What the walk read of a file it hashed ({@link walkDir}'s `hashBelow`), after its stat: the same inode and size. */
export interface WalkedRead {
  /** Its content hash. */
  hash: string;
  /** True when it listed no extended attribute at all. */
  noXattrs: boolean;
}

/** What the walk read of a file entry, when it hashed it. */
export function walkedRead(entry: WalkEntry): WalkedRead | undefined {
  const parts = entry.extra.split(":"); // nlink:birthtimeNs[:hash[:0]]
  return entry.kind === "f" && parts.length >= 3 ? { hash: parts[2]!, noXattrs: parts[3] === "0" } : undefined;
}

/**
 * Reads and stats directory `abs` on a worker thread. Entries that vanish meanwhile are left out,
 * and so is an entry named `skip` (the root's `.intermezzo`); a name that is not valid UTF-8 comes
 * as a raw name (`journal/names.ts`). Rejects with a Node-style errno error (`syscall` "scandir")
 * when the directory cannot be read. With `hashBelow`, the worker also reads and hashes every
 * regular file smaller than that ({@link walkedRead}): what a directory of new files costs the
 * main thread otherwise (a first copy's scan), done beside it. With `known`, the digest the Fsdb
 * remembers for the directory, a directory whose whole text still has that digest comes back
 * {@link DirListing.omitted}: only its own entry and its subdirectories cross to this thread.
 */
export function walkDir(abs: string | Buffer, skip?: string, hashBelow?: number, known?: Buffer): Promise<DirListing> {
  // not an async function: called for every directory, its await machinery made V8's optimising
  // compiler spend about 8 ms on the scanner's read-ahead loop each sync
  return binding()
    .walkDir(abs, skip, hashBelow, known)
    .then(
      (buf) => new DirListing(buf),
      (err: unknown) => {
        throw nodeMessage(err);
      },
    );
}

/** Gives an addon errno error the message Node's own fs functions give (libuv's wording). */
function nodeMessage(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  const desc = typeof e.errno === "number" ? getSystemErrorMap().get(e.errno)?.[1] : undefined;
  if (desc !== undefined) e.message = `${e.code}: ${desc}, ${e.syscall} '${e.path}'`;
  return e;
}
