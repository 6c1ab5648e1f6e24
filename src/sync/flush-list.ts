/**
 * What a batch of a few files must flush, named one by one. A holding makes its staged temp files
 * and its changes durable with one `syncfs` of the file set's filesystem (`Holding.makeDurable`),
 * which is cheap for a window of hundreds of files, but `syncfs` also writes back every other
 * program's dirty data on that filesystem, and waits for it: on a shared disk a resync of ten
 * files waited 20–160 ms in its two flushes for other work's writes. A batch that changed only a
 * few files, each installed from a temp file (a `create` or a `close`), is made durable by flushing
 * exactly those: each temp file's data (`fdatasync`) before it replaces anything, then each
 * installed file (`fsync`: its attributes, set after the data flush) and each directory it was
 * renamed into (`fsync`: the new entry, and the directory's restored mtime) before the batch is
 * acknowledged — data before the metadata that describes it, as with `syncfs`. A change of a file's
 * or directory's attributes (a directory's mtime after a file was created in it, say) flushes that
 * object. Any other change (a rename, a directory made or removed, an unlink, a link, a symlink's
 * or special file's attributes, a kept version) or more than {@link FEW} objects is counted without
 * a target, and the next flush is a `syncfs` again; so is the next flush of a file set whose
 * conflict store or log was written meanwhile (`FileSet.wroteAside`: those files were flushed by
 * the batch's `syncfs`, and still are).
 */
import fs from "node:fs";

/** Files and directories to flush above which one `syncfs` is cheaper than flushing each. */
const FEW = 48;

/** What one flush covers: taken from the list when it starts (later changes wait for the next). */
export interface FlushTargets {
  /** Temp files staged and not installed yet: their data. */
  temps: string[];
  /** Installed files (descriptors opened before the rename) and directories entries went into. */
  fds: number[];
}

/** The targets of the changes counted since the last flush started, or none when one has no target. */
export class FlushList {
  private temps = new Set<string>();
  /** Objects to fsync: by root-relative path for those named once, by a unique key for installed files. */
  private objects = new Map<string, number>();
  private installs = 0;
  private whole = false;

  /** Counts temp file `temp`, completely written. */
  staged(temp: string): void {
    if (!this.whole) this.temps.add(temp);
    this.check();
  }

  /**
   * Counts the install of temp file `temp` (called before its rename): its data and attributes go
   * with the installed file's fsync (`file` opens it), the new entry with its directory's (`dir`
   * opens directory `dirRel` once per flush).
   */
  installing(temp: string, file: () => number, dirRel: string, dir: () => number): void {
    if (this.whole) return;
    this.temps.delete(temp);
    this.add(`\0install ${this.installs++}`, file);
    this.changed(dirRel, dir);
  }

  /** Counts a change of the attributes or entries of the object at root-relative `rel` (`open` opens it, once per flush). */
  changed(rel: string, open: () => number): void {
    if (!this.whole && !this.objects.has(rel)) this.add(rel, open);
    this.check();
  }

  /** Keeps the descriptor `open` gives under `key`; one that cannot be opened makes the flush a `syncfs`. */
  private add(key: string, open: () => number): void {
    if (this.whole) return;
    try {
      this.objects.set(key, open());
    } catch {
      this.untargeted();
    }
  }

  /** Counts a change with no target: the next flush is a `syncfs`. */
  untargeted(): void {
    this.whole = true;
    this.release();
  }

  /**
   * Takes the targets of everything counted so far (the list starts empty again), or undefined
   * when the flush must be a `syncfs`.
   */
  take(): FlushTargets | undefined {
    const targets = this.whole ? undefined : { temps: [...this.temps], fds: [...this.objects.values()] };
    this.temps = new Set();
    this.objects = new Map();
    this.whole = false;
    return targets;
  }

  /** Closes what the list holds. */
  private release(): void {
    closeAll([...this.objects.values()]);
    this.objects = new Map();
    this.temps = new Set();
  }

  private check(): void {
    if (this.temps.size + this.objects.size > FEW) this.untargeted();
  }
}

/**
 * Flushes `targets` (each on the thread pool, all at once) and closes their descriptors. A temp file
 * that is gone (removed after a failed install) needs nothing.
 */
export async function flushTargets(targets: FlushTargets): Promise<void> {
  try {
    await Promise.all([
      ...targets.temps.map(async (temp) => {
        let fh: fs.promises.FileHandle;
        try {
          fh = await fs.promises.open(temp, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
          throw err;
        }
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
      }),
      ...targets.fds.map((fd) => new Promise<void>((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())))),
    ]);
  } finally {
    releaseTargets(targets);
  }
}

/** Closes the descriptors of `targets` (flushed, or covered by a `syncfs` instead). */
export function releaseTargets(targets: FlushTargets): void {
  closeAll(targets.fds);
}

function closeAll(fds: number[]): void {
  for (const fd of fds) fs.closeSync(fd);
}
