/**
 * Written extents installed in place (issue 13, item 4). A close whose extents were received
 * (`extents-transfer.ts`) changes only those ranges of the receiver's file: copying a 1 GiB file to
 * change 1 MiB of it would cost more than the transfer saved. So the ranges are written into the
 * file itself, under an *undo file* that a kill cannot leave half done:
 *
 * 1. the old bytes of every range (and the old size and mtime, the old and new content hashes, the
 *    object's fid) go to `undo-<pid>-…` in the temp area, which is flushed with its directory;
 * 2. the new bytes are written, the file is cut or grown to its new size and flushed;
 * 3. the Fsdb change commits with the batch; the undo file goes after that commit
 *    ({@link InPlace.forget}), or the batch's failure puts the old bytes back at once
 *    ({@link InPlace.rollBack}).
 *
 * An undo file of a dead process found at the next start ({@link recoverInPlace}, before a scan
 * could take the half-written file for a local change) is rolled back while the Fsdb still holds
 * the old content hash (the commit did not happen) and the file is the same inode; otherwise it
 * is only removed.
 */
import fs from "node:fs";
import path from "node:path";
import { ImzError } from "../errors.js";
import { inoKey, UNDO_PREFIX, type FileSet } from "../journal/fileset.js";
import { isAlive } from "../journal/lock-file.js";
import type { FsObject } from "../journal/fsdb.js";
import type { Extent } from "../journal/extents.js";
import { openBeneath, setMtimeAt } from "./beneath.js";
import { Holding } from "./holding.js";

/** What an undo file restores. */
interface UndoHeader {
  fid: string;
  /** The file's inode key: another version installed since (a new inode) is left alone. */
  ino: string;
  /** Ranges of the old content whose bytes follow the header, in order. */
  ranges: Extent[];
  size: number;
  mtimeNs: string;
  oldHash: string;
  newHash: string;
}

/** What a staged in-place change writes: `temp` holds the bytes of `ranges`, in order. */
export interface InPlaceChange {
  temp: string;
  ranges: Extent[];
  size: number;
  hash: string;
}

const COPY = 1 << 20;

/** The in-place changes of one batch (one per {@link Applier}). */
export class InPlace {
  private readonly undos: string[] = [];

  constructor(private readonly holding: Holding) {}

  /**
   * Writes `change` into object `o`'s file (still the version the Fsdb records: size, inode, mtime),
   * under an undo file; `settle` then sets its attributes, before the file is flushed. Throws `IO`
   * (changing nothing) when the file is not that version.
   */
  patch(o: FsObject, change: InPlaceChange, settle: () => void): void {
    const fd = this.openFile(o);
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      if (inoKey(st) !== o.ino || Number(st.size) !== o.size || st.mtimeNs.toString() !== o.mtimeNs) {
        throw new ImzError("IO", `${this.holding.set.fsdb.pathOf(o.fid)} changed on this host since it was last scanned; left as it is`, {
          hint: "the next sync scans it and reconciles",
          path: this.holding.set.fsdb.pathOf(o.fid),
        });
      }
      const old = change.ranges.flatMap(([off, len]): Extent[] => (off < o.size ? [[off, Math.min(len, o.size - off)]] : []));
      const header: UndoHeader = { fid: o.fid, ino: o.ino!, ranges: old, size: o.size, mtimeNs: o.mtimeNs, oldHash: o.hash, newHash: change.hash };
      this.undos.push(writeUndo(this.holding, fd, header));
      const src = fs.openSync(change.temp, "r");
      try {
        let at = 0;
        for (const [off, len] of change.ranges) {
          copyRange(src, at, fd, off, len);
          at += len;
        }
      } finally {
        fs.closeSync(src);
      }
      if (change.size !== o.size) fs.ftruncateSync(fd, change.size);
      settle();
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** After the batch's Fsdb changes committed: the undo files go. */
  forget(): void {
    for (const u of this.undos.splice(0)) fs.rmSync(u, { force: true });
  }

  /** The batch failed (its Fsdb changes rolled back): every file patched in it gets its old bytes back. */
  rollBack(): void {
    for (const u of this.undos.splice(0).reverse()) undo(this.holding, u);
  }

  private openFile(o: FsObject): number {
    const fd = openBeneath(this.holding.set.root, this.holding.relOf(o.fid), fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw new ImzError("PATH_UNSAFE", `${this.holding.relOf(o.fid)} is not a regular file (something else is in its place)`, { path: this.holding.relOf(o.fid) });
    }
    return fd;
  }
}

/** Writes the undo file of `header` (the old bytes read from `fd`) and flushes it and its directory; returns its path. */
function writeUndo(holding: Holding, fd: number, header: UndoHeader): string {
  const file = holding.tempPath(UNDO_PREFIX.slice(0, -1));
  const out = fs.openSync(file, "wx", 0o600);
  try {
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    fs.writeSync(out, len);
    fs.writeSync(out, json);
    let at = 4 + json.length;
    for (const [off, n] of header.ranges) {
      copyRange(fd, off, out, at, n);
      at += n;
    }
    fs.fdatasyncSync(out);
  } finally {
    fs.closeSync(out);
  }
  const dir = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
  return file;
}

/** Puts the old bytes, size and mtime an undo file keeps back into its object's file, then removes it. */
function undo(holding: Holding, file: string): void {
  const src = fs.openSync(file, "r");
  let header: UndoHeader;
  try {
    let at: number;
    [header, at] = readHeader(src);
    const fd = openBeneath(holding.set.root, holding.relOf(header.fid), fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    try {
      if (inoKey(fs.fstatSync(fd, { bigint: true })) !== header.ino) throw new Error("another file now");
      for (const [off, n] of header.ranges) {
        copyRange(src, at, fd, off, n);
        at += n;
      }
      fs.ftruncateSync(fd, header.size);
      holding.at(header.fid, (p) => setMtimeAt(p, header.mtimeNs));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    fs.closeSync(src);
  }
  fs.rmSync(file, { force: true });
}

/**
 * Rolls back the in-place changes a killed process left half done (its undo files in the temp
 * area): those whose object's Fsdb hash is still the old content's. Returns how many it undid.
 */
export function recoverInPlace(set: FileSet): number {
  const names = fs.readdirSync(set.tmpDir).filter((n) => n.startsWith(UNDO_PREFIX) && !isAlive(Number(/^undo-([0-9]+)-/.exec(n)?.[1])));
  if (names.length === 0) return 0;
  const holding = new Holding(set);
  let undone = 0;
  for (const name of names) {
    const file = path.join(set.tmpDir, name);
    try {
      const fd = fs.openSync(file, "r");
      let header: UndoHeader;
      try {
        [header] = readHeader(fd);
      } finally {
        fs.closeSync(fd);
      }
      const o = set.fsdb.get(header.fid);
      if (o?.type === "f" && o.hash === header.oldHash) {
        undo(holding, file);
        undone++;
        continue;
      }
    } catch {
      // unreadable (a kill while it was written, before the file itself changed) or its file gone
    }
    fs.rmSync(file, { force: true });
  }
  return undone;
}

/** An undo file's header, and where the old bytes start. */
function readHeader(fd: number): [UndoHeader, number] {
  const len = Buffer.alloc(4);
  if (fs.readSync(fd, len, 0, 4, 0) !== 4) throw new Error("short undo file");
  const json = Buffer.alloc(len.readUInt32LE());
  if (fs.readSync(fd, json, 0, json.length, 4) !== json.length) throw new Error("short undo file");
  return [JSON.parse(json.toString()) as UndoHeader, 4 + json.length];
}

/** Copies `len` bytes at `from` of `src` to `to` of `dst`. */
function copyRange(src: number, from: number, dst: number, to: number, len: number): void {
  const buf = Buffer.allocUnsafe(Math.min(COPY, len));
  for (let done = 0; done < len; ) {
    const n = fs.readSync(src, buf, 0, Math.min(buf.length, len - done), from + done);
    if (n === 0) throw new ImzError("IO", "a file ended before the range to copy did", { hint: "the next sync retries it" });
    fs.writeSync(dst, buf, 0, n, to + done);
    done += n;
  }
}
