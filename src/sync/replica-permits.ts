/**
 * A live replica's Lento side of callbacks and permits: what it answers when the holder breaks its
 * callback or takes a permit back, and the permits it asks for on its filter's behalf.
 *
 * - A `break` is answered once an exchange has applied the holder's log up to the break's stamp
 *   (a full replica then has the new versions; a lazy one has placeholders for them).
 * - A permit is asked when the filter upcalls before a write (`upcall-socket.ts`); once granted,
 *   the replica applies the log up to the grant's stamp before the write goes ahead, so the program
 *   starts from the version the previous owner wrote.
 * - A `revoke` first has the filter release the objects (no writer left, records committed), then
 *   waits for an exchange that started after that, which reintegrates them, and only then answers.
 */
import type { HolderPeer, LiveReplica } from "./peer.js";

/** Exchanges that someone waits for: by the stamp they must reach, or by being started after a moment. */
export class ExchangeWaiters {
  private started = 0;
  private finished = 0;
  private applied = 0;
  private readonly waiting: Array<{ after: number; volume: number; resolve: () => void }> = [];

  constructor(private readonly kick: () => void) {}

  /** An exchange begins. */
  begin(): void {
    this.started++;
  }

  /** The exchange that began last has ended, with the log applied up to `applied`. */
  end(applied: number): void {
    this.finished = this.started;
    this.applied = Math.max(this.applied, applied);
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const w = this.waiting[i]!;
      if (this.finished > w.after && this.applied >= w.volume) {
        this.waiting.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Resolves once the log is applied up to `volume`; with `fresh`, after an exchange started from now on. */
  wait(volume: number, fresh: boolean): Promise<void> {
    if (!fresh && this.applied >= volume) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.waiting.push({ after: fresh ? this.started : -1, volume, resolve }));
    this.kick();
    return p;
  }

  /** The connection is gone: nobody is waiting for an answer any more. */
  flush(): void {
    for (const w of this.waiting.splice(0)) w.resolve();
  }
}

/** The permits this replica holds, and its answers to the holder's breaks and revokes. */
export class ReplicaPermits implements LiveReplica {
  private readonly held = new Set<string>();

  constructor(
    private readonly exchanges: ExchangeWaiters,
    /** The live connection to the holder, if any. */
    private readonly peer: () => HolderPeer | undefined,
    /** Has the filter release objects (no writer left, records committed). */
    private readonly release: (fids: string[]) => Promise<void>,
  ) {}

  async breakCallback(b: { volume: number }): Promise<void> {
    await this.exchanges.wait(b.volume, false);
  }

  async revoke(fids: string[]): Promise<void> {
    // dropped first: a write starting now asks the holder again, and waits behind this revoke there
    for (const f of fids) this.held.delete(f);
    await this.release(fids);
    await this.exchanges.wait(0, true);
  }

  /** The filter's upcall before a write: true once this replica holds `fid`'s permit and the version it grants. */
  async get(fid: string): Promise<boolean> {
    if (this.held.has(fid)) return true;
    const peer = this.peer();
    if (!peer) return false;
    const grant = await peer.permit([fid]).catch(() => ({ granted: false, volume: 0 }));
    if (!grant.granted) return false;
    this.held.add(fid);
    await this.exchanges.wait(grant.volume, false);
    return true;
  }

  /** The connection dropped: its permits are void. */
  dropAll(): void {
    this.held.clear();
  }
}
