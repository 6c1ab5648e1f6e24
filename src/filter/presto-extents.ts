/**
 * Presto's written extents (issue 13, item 4): per inode, the byte ranges written and truncated
 * through the mount, so that a `close` record can carry the ranges changed since its base version
 * (`journal/extents.ts`) and the transfer can move exactly those.
 *
 * Invariants (a range missed would make a receiver install wrong bytes; a range too many costs
 * only its bytes on the wire):
 * - A write's range is noted *before* the write is made, and stays *in flight* until it returns:
 *   a close that may have hashed its bytes carries it, and so does the phase after that close.
 * - Per inode two sets are kept: `cum`, every range since the base version's content (hash
 *   `baseHash`, Fsdb version `version`), and `since`, every range since the content the last close
 *   hashed (`lastHash`). A close whose object's version moved (the holder stamped, or a sync
 *   reintegrated, the last close) starts `cum` again from `since`; one whose object's hash is not
 *   the last close's (content that did not come through the mount) makes the extents unknown
 *   until a version is stamped on content the tracker saw.
 * - A tracker starts from the Fsdb: its content is the version's only when no record about the
 *   object's content is pending in the CML (else `cum` is unknown). A tracker with no write in
 *   flight may be forgotten (a later one starts from the Fsdb again).
 * - Extents are given only for an object that is its inode's one name.
 */
import fs from "node:fs";
import { inoKey, type FileSet } from "../journal/fileset.js";
import type { FsObject } from "../journal/fsdb.js";
import { WrittenRanges } from "../journal/extents.js";
import { carriesContent, type CloseExtents, type Content } from "../journal/records.js";

/** Trackers kept beyond this many are forgotten after their close (see the module doc). */
const MAX_TRACKED = 4096;

interface Tracker {
  version: string;
  /** Content hash of the base version ("" unknown). */
  baseHash: string;
  cum: WrittenRanges | undefined;
  since: WrittenRanges;
  /** The content hash the last close recorded; undefined when unknown. */
  lastHash: string | undefined;
  inflight: Map<number, [number, number]>;
}

/** The written-extents bookkeeping of one Presto mount. */
export class ExtentsTracker {
  private readonly byInode = new Map<string, Tracker>();
  private readonly handles = new Map<number, string>();
  private nextWrite = 0;

  constructor(private readonly set: FileSet) {}

  /**
   * Notes that `[pos, pos + len)` is about to be written through handle `fh` of the object at `obj`
   * (resolved by path; undefined for a name the Fsdb does not know). Returns the call that marks
   * the write as done (also when it failed).
   */
  willWrite(fh: number, obj: () => FsObject | undefined, pos: number, len: number): () => void {
    const t = this.trackerOf(this.keyOf(fh), obj);
    const id = this.nextWrite++;
    t.inflight.set(id, [pos, pos + len]);
    t.since.add(pos, pos + len);
    t.cum?.add(pos, pos + len);
    return () => t.inflight.delete(id);
  }

  /** Notes a truncation to `size` of the inode `key` (see {@link inodeOf}) that the object `obj` names. */
  truncated(key: string, obj: () => FsObject | undefined, size: number): void {
    const t = this.trackerOf(key, obj);
    t.since.cut(size);
    t.cum?.cut(size);
  }

  /** Notes a truncation through handle `fh`. */
  truncatedHandle(fh: number, obj: () => FsObject | undefined, size: number): void {
    this.truncated(this.keyOf(fh), obj, size);
  }

  /** Forgets handle `fh` (released). */
  released(fh: number): void {
    this.handles.delete(fh);
  }

  /**
   * A close of inode `key` begins (before its content is hashed): what was written since the last
   * close is set aside, and writes in flight count for the next close too. Returns the call that
   * ends the close — `extents` is then called with the record it makes, if it makes one.
   */
  beginClose(key: string): { extents: (obj: FsObject, content: Content) => CloseExtents | undefined; end: () => void } {
    const t = this.byInode.get(key);
    if (!t) return { extents: () => undefined, end: () => undefined };
    const closing = t.since;
    t.since = new WrittenRanges();
    for (const [s, e] of t.inflight.values()) t.since.add(s, e);
    let made = false;
    return {
      extents: (obj, content) => {
        made = true;
        return this.closed(key, t, closing, obj, content);
      },
      end: () => {
        if (!made) {
          // no record: what the close set aside still counts from the last recorded content
          closing.unite(t.since);
          t.since = closing;
        }
      },
    };
  }

  /** The inode key of the file at `file` (for a truncation by path), or undefined. */
  static inodeOf(file: string): string | undefined {
    try {
      return inoKey(fs.statSync(file, { bigint: true }));
    } catch {
      return undefined;
    }
  }

  /** The inode key of handle `fh` (looked up once per handle). */
  private keyOf(fh: number): string {
    let key = this.handles.get(fh);
    if (key === undefined) this.handles.set(fh, (key = inoKey(fs.fstatSync(fh, { bigint: true }))));
    return key;
  }

  private closed(key: string, t: Tracker, closing: WrittenRanges, obj: FsObject, content: Content): CloseExtents | undefined {
    const single = obj.ino !== null && this.set.fsdb.byIno(obj.ino).length === 1;
    if (t.lastHash === undefined || obj.hash !== t.lastHash || !single) t.cum = undefined;
    else if (obj.version !== t.version) {
      // the last close's content was stamped: count from it
      t.baseHash = t.lastHash;
      t.cum = closing.copy();
      t.cum.unite(t.since);
    }
    const ranges = t.cum && t.baseHash !== "" && obj.version !== "" ? t.cum.forSize(content.size) : undefined;
    t.version = obj.version;
    t.lastHash = content.hash;
    t.since.cut(content.size);
    // after a record the Fsdb describes this content: a tracker with nothing in flight may go
    if (this.byInode.size > MAX_TRACKED && t.inflight.size === 0) this.byInode.delete(key);
    return ranges === undefined ? undefined : { baseHash: t.baseHash, ranges };
  }

  private trackerOf(key: string, obj: () => FsObject | undefined): Tracker {
    let t = this.byInode.get(key);
    if (t) return t;
    const o = obj();
    const known = o?.type === "f" && o.ino === key && o.hash !== "";
    const pending = known && this.set.role === "replica" && this.set.cml.about(o.fid).some(carriesContent);
    t = {
      version: o?.version ?? "",
      baseHash: known ? o.hash : "",
      cum: known && !pending ? new WrittenRanges(o.size) : undefined,
      since: new WrittenRanges(known ? o.size : 0),
      lastHash: known ? o.hash : undefined,
      inflight: new Map(),
    };
    this.byInode.set(key, t);
    return t;
  }
}
