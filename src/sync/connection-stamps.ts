/**
 * The versions one holder connection gave objects, kept as the server-log volumes it appended and
 * read back from the log, not as a map per object. A replica's record may carry as its base the
 * version its object had before this connection changed it (its *baseline*: records of one batch, a
 * window's later batches, a rename's `replacedBase` in a later window all do), and the holder accepts
 * that version as well as the current one while the object still has the version this connection
 * gave it (`conflict/detect.ts`). Two maps keyed by fid held that for the whole connection: two
 * entries per object changed (0.12 KB of live heap per file of a first copy, about 0.45 KB of RSS
 * as V8 sized its heap ahead), so the holder's memory grew with the tree. The log already says it:
 * each logged record names its object, the stamp it gave (`<holder>:<volume>`) and the version it
 * replaced (its `base`, set by the holder as it logs it; a placement has none: nothing was there).
 * What is kept here is the list of runs of volumes this connection appended — one run for a whole
 * first copy when no one else writes meanwhile.
 */
import type { FileSet } from "../journal/fileset.js";

/** The stamps one connection gave, and the baselines they imply. */
export class ConnectionStamps {
  /** Volumes this connection appended, as ascending disjoint runs: `[first0, last0, first1, last1, …]`. */
  private readonly runs: number[] = [];
  /** How a stamp of this holder starts (`<holder replica>:`). */
  private readonly prefix: string;

  constructor(private readonly set: FileSet) {
    this.prefix = `${set.replicaId}:`;
  }

  /** Number of runs kept (what this object's memory follows: the runs, never the objects). */
  get size(): number {
    return this.runs.length / 2;
  }

  /** This connection appended the record numbered `volume` (numbers only grow). */
  logged(volume: number): void {
    const n = this.runs.length;
    if (n > 0 && this.runs[n - 1] === volume - 1) this.runs[n - 1] = volume;
    else this.runs.push(volume, volume);
  }

  /**
   * Forgets the volumes after `volume`: a batch rolled back, and its numbers are given again, maybe
   * to another connection's records. (Forgetting one that stayed only makes a record based on its
   * baseline a conflict, never a silent overwrite.)
   */
  forgetAfter(volume: number): void {
    while (this.runs.length > 0 && this.runs[this.runs.length - 2]! > volume) this.runs.length -= 2;
    const n = this.runs.length;
    if (n > 0 && this.runs[n - 1]! > volume) this.runs[n - 1] = volume;
  }

  /**
   * The version object `fid`, now at version `now`, had before this connection's run of changes to
   * it: `now` unless this connection gave it `now`; else, back through the log, the version before
   * the first of the changes this connection made to it one after the other ("" for an object this
   * connection placed). A change by anyone else in between ends the run there, as a record
   * compacted away from the log does.
   */
  baseline(fid: string, now: string): string {
    let version = now;
    for (let volume = this.ours(version); volume !== undefined; ) {
      const logged = this.set.log.stamped(volume);
      if (logged === undefined || logged.fid !== fid) return version;
      version = logged.base;
      const before = this.ours(version);
      if (before !== undefined && before >= volume) return version; // bases only go back in the log
      volume = before;
    }
    return version;
  }

  /** The volume of `version` when it is a stamp this connection gave, else undefined. */
  private ours(version: string): number | undefined {
    if (!version.startsWith(this.prefix)) return undefined;
    const volume = Number(version.slice(this.prefix.length));
    if (!Number.isSafeInteger(volume)) return undefined;
    // the run starting at or before `volume` (binary search over the runs' first volumes)
    let lo = 0;
    let hi = this.runs.length / 2 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.runs[2 * mid]! <= volume) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && volume <= this.runs[2 * hi + 1]! ? volume : undefined;
  }
}
