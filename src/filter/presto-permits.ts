/**
 * Presto's permits (the paper's `if (!HAVE_PERMIT(inode) && !ISLENTO) lento_getpermit(inode)`):
 * before a program opens an existing file for writing (or truncates it), the filter asks the
 * replica's Lento for the object's permit and waits for the answer; Lento has then applied the last
 * version other replicas wrote. When the holder takes a permit back, Lento asks the filter to
 * release the object, which it does once no program has it open for writing any more and its
 * records are committed — so the other replica's writer starts from this one's last version.
 *
 * Without a live Lento (a disconnected replica) every ask answers "no permit" at once and writes go
 * ahead: their conflicts are found at reintegration, as always.
 */

/** Longest a release waits for the object's writers to close (ms); the holder's deadline is 10 s. */
export const RELEASE_WAIT_MS = 8000;

/** Writers of objects and the permits asked for them. */
export class PermitGate {
  /** Open write handles (and opens waiting on a permit), by fid. */
  private readonly writers = new Map<string, number>();
  private readonly byHandle = new Map<number, string>();
  /** Who waits for an object's last writer to close. */
  private readonly drained = new Map<string, Array<() => void>>();

  constructor(private readonly ask: (fid: string) => Promise<boolean>) {}

  /**
   * Counts a writer of `fid` in, then asks for its permit; `open` runs after the answer (granted or
   * not). Returns what `open` returns; the handle stays counted until {@link PermitGate.closed}.
   */
  async write<T extends number | void>(fid: string, open: () => Promise<T>): Promise<T> {
    this.writers.set(fid, (this.writers.get(fid) ?? 0) + 1);
    let fh: T;
    try {
      await this.ask(fid).catch(() => false);
      fh = await open();
    } catch (err) {
      this.leave(fid);
      throw err;
    }
    if (typeof fh === "number") this.byHandle.set(fh, fid);
    else this.leave(fid); // a truncate: written and done
    return fh;
  }

  /** A handle was released. */
  closed(fh: number): void {
    const fid = this.byHandle.get(fh);
    if (fid === undefined) return;
    this.byHandle.delete(fh);
    this.leave(fid);
  }

  /**
   * Gives `fids` back: resolves once none has a writer (or after {@link RELEASE_WAIT_MS}), then runs
   * `commit` so that their records can be read by Lento.
   */
  async release(fids: string[], commit: () => Promise<void>): Promise<void> {
    const waits = fids.filter((f) => (this.writers.get(f) ?? 0) > 0).map((f) => new Promise<void>((resolve) => this.drained.set(f, [...(this.drained.get(f) ?? []), resolve])));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((resolve) => (timer = setTimeout(resolve, RELEASE_WAIT_MS)))]);
    clearTimeout(timer);
    await commit();
  }

  private leave(fid: string): void {
    const n = (this.writers.get(fid) ?? 1) - 1;
    if (n > 0) return void this.writers.set(fid, n);
    this.writers.delete(fid);
    for (const resolve of this.drained.get(fid) ?? []) resolve();
    this.drained.delete(fid);
  }
}
