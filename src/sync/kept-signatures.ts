/**
 * Signatures kept with the version they describe. The side that receives a large file's new
 * version builds its signature while the bytes pass anyway (patched or written, see
 * `SignatureBuilder`) and keeps it in `.intermezzo/signatures/<fid>`, so the next delta against that
 * version — the next change of the file, from either side — starts without a signature pass.
 *
 * Invariants: a kept signature is written only after the version it describes is installed and its
 * Fsdb change committed (a temp file in `.intermezzo/tmp`, then a rename: a crash before leaves none,
 * and the next start removes the temp file), and it is used only when its key still holds — the
 * object's fid, version and content hash in the Fsdb, the very file (device, inode, size, mtime,
 * ctime) now open as the basis, the signature parameters this side would choose for that size, and
 * a checksum of the signature bytes (a file torn by a power loss). Anything else is removed and the
 * basis is signed afresh. A stale signature that somehow passed would still cost only a retry: the
 * patched file fails its whole-file hash check and is sent whole.
 */
import fs from "node:fs";
import path from "node:path";
import { hashBuffer } from "../journal/content-hash.js";
import { inoKey, META_DIR, type FileSet } from "../journal/fileset.js";
import { chooseStrongLength, MAX_STRONG_LENGTH, resolveSignatureOptions, type SignatureOptions } from "./delta/index.js";
import { randomHex } from "../random-hex.js";

/** Files from this size on have their received versions' signatures kept (below it, a fresh signature costs less than the file that keeps it). */
export const KEEP_SIGNATURE_MIN = 8 << 20;

/** Directory of kept signatures inside {@link META_DIR}. */
export const SIGNATURES_DIR = "signatures";

/** First line of a kept signature file (the format's version); the key's JSON line follows, then the signature. */
const MAGIC = "IMZSIG1\n";

/** What a kept signature describes: one version of one object, in one file on disk. */
interface Key {
  fid: string;
  version: string;
  hash: string;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  /** Content hash of the signature bytes. */
  sum: string;
}

/** The kept signature file of `fid`, or undefined for a fid that is not a plain `replica:counter`. */
function keptPath(set: FileSet, fid: string): string | undefined {
  const m = /^([0-9a-f]{1,32}):([0-9]{1,16})$/.exec(fid);
  return m ? path.join(set.root, META_DIR, SIGNATURES_DIR, `${m[1]}-${m[2]}`) : undefined;
}

/** Removes the kept signature of `fid`, if any. */
function forgetSignature(set: FileSet, fid: string): void {
  const file = keptPath(set, fid);
  if (file !== undefined) fs.rmSync(file, { force: true });
}

/**
 * Keeps `signature` as that of object `fid`'s current version, provided the Fsdb (committed) says
 * that version's content hash is `hash`; otherwise removes whatever was kept for it.
 */
export function keepSignature(set: FileSet, fid: string, hash: string, signature: Buffer): void {
  const file = keptPath(set, fid);
  if (file === undefined) return;
  const o = set.fsdb.get(fid);
  if (o?.type !== "f" || o.hash !== hash || o.version === "" || o.ino === null || o.ctimeNs === null) return forgetSignature(set, fid);
  const key: Key = { fid, version: o.version, hash, size: o.size, mtimeNs: o.mtimeNs, ctimeNs: o.ctimeNs, ino: o.ino, sum: hashBuffer(signature) };
  const temp = path.join(set.tmpDir, `s-${process.pid}-${randomHex(6)}`);
  fs.writeFileSync(temp, Buffer.concat([Buffer.from(`${MAGIC}${JSON.stringify(key)}\n`), signature]), { flag: "wx", mode: 0o600 });
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}

/** The key and signature of a kept signature file's bytes, or undefined when they are not one. */
function parse(bytes: Buffer): { key: Key; signature: Buffer } | undefined {
  if (!bytes.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) return undefined;
  const eol = bytes.indexOf(0x0a, MAGIC.length);
  if (eol < 0) return undefined;
  try {
    const key = JSON.parse(bytes.toString("utf8", MAGIC.length, eol)) as Key;
    return { key, signature: bytes.subarray(eol + 1) };
  } catch {
    return undefined;
  }
}

/**
 * The kept signature of object `fid`'s current version, when `basis` (an open file descriptor) is
 * that version's file and every part of the key holds (see the module's invariants); a kept
 * signature that does not hold is removed. `options` are the signature options the caller would
 * sign the basis with.
 */
export function keptSignature(set: FileSet, fid: string, basis: number, options: SignatureOptions): Buffer | undefined {
  const file = keptPath(set, fid);
  if (file === undefined) return undefined;
  try {
    const kept = parse(fs.readFileSync(file)); // a few hundred KiB at most: cheaper read at once
    if (kept !== undefined && holds(set, kept.key, kept.signature, fs.fstatSync(basis, { bigint: true }), options)) return kept.signature;
  } catch {
    return undefined; // none kept (or the basis unreadable: the transfer reports that)
  }
  forgetSignature(set, fid);
  return undefined;
}

/** Whether a kept signature's key holds for the Fsdb's object and the open basis `st`. */
function holds(set: FileSet, key: Key, signature: Buffer, st: fs.BigIntStats, options: SignatureOptions): boolean {
  const o = set.fsdb.get(key.fid);
  return (
    o !== undefined &&
    o.version === key.version &&
    o.hash === key.hash &&
    o.size === key.size &&
    o.mtimeNs === key.mtimeNs &&
    o.ctimeNs === key.ctimeNs &&
    o.ino === key.ino &&
    inoKey(st) === key.ino &&
    Number(st.size) === key.size &&
    st.mtimeNs.toString() === key.mtimeNs &&
    st.ctimeNs.toString() === key.ctimeNs &&
    signatureFits(signature, key.size, options) &&
    hashBuffer(signature) === key.sum
  );
}

/** How far a signature's block length may stray from the one chosen for a size (the wire cost is flat near its optimum). */
const BLOCK_SLACK = 1.25;

/**
 * Whether a signature (by its header) may describe a file of `size` bytes signed with `options`: the
 * same format, a block length within 25% of the one chosen for that size, and strong sums at least as
 * long as that size needs with that block length. The slack lets a file that grew or shrank a little
 * keep its blocks, so that its next version is re-signed from this one rather than signed afresh
 * (`version-signature.ts`); past it, a fresh signature takes the chosen lengths again.
 */
export function signatureFits(signature: Buffer, size: number, options: SignatureOptions): boolean {
  if (signature.length < SIGNATURE_HEADER) return false;
  const chosen = resolveSignatureOptions(size, options);
  const hash = options.hash ?? "blake2";
  const block = signature.readUInt32BE(4);
  const strong = signature.readUInt32BE(8);
  return (
    signature.readUInt32BE(0) === chosen.magic &&
    block > 0 &&
    block * BLOCK_SLACK >= chosen.blockLength &&
    block <= chosen.blockLength * BLOCK_SLACK &&
    strong >= chooseStrongLength(size, block, hash) &&
    strong <= MAX_STRONG_LENGTH[hash]
  );
}

/** Bytes of a signature's header: magic, block length, strong sum length. */
const SIGNATURE_HEADER = 12;

/** Content being installed, with the signature built as it passed (see `StagedContent`). */
export interface SignedContent {
  content: { hash: string; size: number };
  signature?: Promise<Buffer | undefined>;
}

/**
 * The kept signatures of one applier's batches: which objects got a new version (with or without a
 * signature built on the way) or were removed, acted on once the batch has committed.
 */
export class SignatureKeeper {
  private pending = new Map<string, SignedContent | undefined>();

  constructor(private readonly set: FileSet) {}

  /**
   * Object `fid` (of `oldSize` bytes before) got the version `staged` describes, or was removed
   * (`staged` undefined). Only large files are noted: nothing is kept for small ones.
   */
  installed(fid: string, oldSize: number, staged?: SignedContent): void {
    if (staged?.signature !== undefined || Math.max(oldSize, staged?.content.size ?? 0) >= KEEP_SIGNATURE_MIN) this.pending.set(fid, staged);
  }

  /** Keeps (or removes) the noted signatures; call once the batch's Fsdb changes have committed. */
  async commit(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [fid, staged] of batch) {
      const signature = await staged?.signature;
      try {
        if (staged !== undefined && signature !== undefined) keepSignature(this.set, fid, staged.content.hash, signature);
        else forgetSignature(this.set, fid);
      } catch {
        // a kept signature only saves time: one that cannot be written (a full disk) is not kept
      }
    }
  }
}
