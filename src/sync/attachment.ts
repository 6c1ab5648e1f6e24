/**
 * A live replica's attachment to its holder (`intermezzo-sync --watch`), one small state machine:
 * connecting → live → disconnected (backing off) → connecting … until stopped.
 *
 * - After a first ordinary sync, the replica stays attached. Its own changes are journaled as they
 *   happen — by the Presto mount when one is up, else by the watcher, which journals what inotify
 *   names — and each batch is reintegrated at once.
 * - The holder pushes the growth of its log (`watch`, update notification); each push starts an
 *   exchange that applies the log after the replica's stamp.
 * - Exchanges and the watcher's journaling take turns (the replica's write lock): the watcher looks
 *   at the tree only after an exchange has recorded Lento's own writes in the Fsdb, so nothing
 *   Lento wrote comes back as a local change.
 * - When the connection drops (a holder killed or restarted, a cut network), the replica keeps
 *   journaling, retries with backoff (1 s doubling to 60 s), and on reconnection reintegrates what it
 *   journaled meanwhile (conflicts settled by the policy, as in any sync) and goes live again.
 * - Once it has been quiet for {@link SETTLE_MS} after exchanges that met conflicts or per-path
 *   problems, or failed, it revalidates once against the holder's listing (`revalidate.ts`): what settling
 *   races left apart — a directory the holder deleted while this replica restored it, an rmdir
 *   refused for entries since moved — is brought to the holder's state instead of staying apart
 *   until the holder changes it again (found by the churn test). One listing per quiet period at
 *   most: an exchange that revalidated does not arm the next. A replica stopped before its quiet
 *   period revalidates once quiet after its restart (`meta` keeps that it is due).
 *
 * The state is kept in the replica's `meta` (`attachment`) for `intermezzo status`.
 */
import os from "node:os";
import { ImzError, isTreeRace } from "../errors.js";
import { watchFileSet, type FileSetWatcher } from "../filter/watcher.js";
import { FileSet } from "../journal/fileset.js";
import { withWriteLock } from "../journal/write-lock.js";
import { newTally, type SyncTally } from "./client.js";
import type { HolderPeer } from "./peer.js";
import { attachRequest, exchange, resolveOptions, syncFileSets, type SyncOptions, type SyncReport } from "./sync.js";
import { ExchangeWaiters, ReplicaPermits } from "./replica-permits.js";
import { serveUpcalls, type UpcallServer } from "./upcall-socket.js";

/** Where an attachment stands. */
export type AttachmentState = "connecting" | "live" | "disconnected" | "stopped";

/** What `intermezzo status` shows of a live replica. */
export interface AttachmentInfo {
  state: AttachmentState;
  /** Since when (ms since the epoch) it is in this state. */
  since: number;
  pid: number;
  host: string;
  /** When the last exchange that shipped or applied anything ended. */
  lastExchange?: number;
  /** Why the last connection failed, while disconnected. */
  error?: string;
}

/** Options of {@link runLive}. */
export interface LiveOptions {
  sync: SyncOptions;
  /** Opens a new connection to the holder (called again after each drop). */
  connect: () => Promise<HolderPeer>;
  /** Quiet time of the watcher before a batch of changes is journaled (default 15 ms). */
  debounceMs?: number;
  /** First retry delay after a drop (default 1 s); it doubles up to `maxBackoffMs` (default 60 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** The first sync's report. */
  onFirst?: (r: SyncReport) => void;
  /** Each exchange that shipped, applied or met something. */
  onExchange?: (t: SyncTally) => void;
  onState?: (info: AttachmentInfo) => void;
  /** Errors that did not stop the attachment. */
  onError?: (err: unknown) => void;
  /** A back-off cut short because the host's network addresses changed (the network came back). */
  onNetwork?: () => void;
}

/** Errors after which the attachment reconnects (the connection or its peer went away). */
const DROPS = new Set(["CONNECTION_LOST", "HANDSHAKE_FAILED", "REMOTE_ERROR", "REMOTE_NOT_FOUND", "FRAME_TRUNCATED", "SESSION_UNKNOWN", "AUTH_FAILED", "TIMEOUT"]);

/** True when `err` means the holder could not be reached or went away. */
export function isDrop(err: unknown): boolean {
  if (err instanceof ImzError) return DROPS.has(err.code);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE" || code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENETUNREACH";
}

/**
 * Keeps the replica at `root` live with its holder until `signal` aborts. Throws only what stops the
 * attachment for good (the first sync refused, the holder changed); everything else is retried.
 */
export async function runLive(root: string, opts: LiveOptions, signal: AbortSignal): Promise<void> {
  let backoff = opts.backoffMs ?? 1000;
  let firstUnsettled = false;
  // the first sync: an ordinary one (scans, joins, unions); retried while the holder is
  // unreachable, or when the tree changed under it (the user works on while it starts)
  for (;;) {
    try {
      const first = await syncFileSets(root, opts.connect(), opts.sync);
      firstUnsettled = first.conflicts.length + first.problems.length > 0;
      opts.onFirst?.(first);
      break;
    } catch (err) {
      if (!(isDrop(err) || isTreeRace(err)) || signal.aborted) throw err;
      opts.onError?.(err);
      if ((await backOff(backoff, signal)) === "network") opts.onNetwork?.();
      backoff = Math.min(backoff * 2, opts.maxBackoffMs ?? 60_000);
      if (signal.aborted) return;
    }
  }
  const set = FileSet.open(root);
  const release = set.lock("sync");
  /**
   * Whether exchanges met conflicts or problems since the last revalidation (see SETTLE_MS). Kept in
   * `meta` only, so a replica stopped or killed before its quiet period revalidates once quiet after
   * its restart: else what settling left apart stayed apart, the restarted run's own exchanges
   * having met nothing (found by the churn test, whose replicas are stopped at random).
   */
  const unsettled = (): boolean => set.metaOr(SETTLE_DUE, "") !== "";
  const setUnsettled = (due: boolean): void => {
    if (due !== unsettled()) set.transaction(() => set.setMeta(SETTLE_DUE, due ? "1" : ""));
  };
  if (firstUnsettled) setUnsettled(true);
  const info: AttachmentInfo = { state: "connecting", since: Date.now(), pid: process.pid, host: os.hostname() };
  const setState = (state: AttachmentState, error?: string): void => {
    Object.assign(info, { state, since: Date.now() });
    if (error === undefined) delete info.error;
    else info.error = error;
    set.setMeta("attachment", JSON.stringify(info));
    opts.onState?.({ ...info });
  };
  const kick = new Kick();
  let watcher: FileSetWatcher | undefined;
  let cmlPoll: NodeJS.Timeout | undefined;
  signal.addEventListener("abort", () => kick.ring(), { once: true });
  // callbacks and permits: the holder's breaks and revokes, the filter's permit upcalls
  const exchanges = new ExchangeWaiters(() => kick.ring());
  let livePeer: HolderPeer | undefined;
  let upcalls: UpcallServer | undefined;
  const permits = new ReplicaPermits(exchanges, () => livePeer, (fids) => upcalls?.release(fids) ?? Promise.resolve());
  try {
    upcalls = await serveUpcalls(root, (fid) => permits.get(fid), (err) => opts.onError?.(err));
    if (set.isContinuouslyFiltered()) {
      // the mount journals; a new CML record starts an exchange
      let last = set.cml.count();
      cmlPoll = setInterval(() => {
        const n = set.cml.count();
        if (n !== last && n > 0) kick.ring();
        last = n;
      }, opts.debounceMs ?? 15);
    } else {
      watcher = await watchFileSet(set, { lockHeld: true, debounceMs: opts.debounceMs, onError: opts.onError, onScan: (r) => r.records > 0 && kick.ring() });
    }
    const resolve = resolveOptions(root, opts.sync);
    backoff = opts.backoffMs ?? 1000;
    while (!signal.aborted) {
      setState("connecting");
      let peer: HolderPeer | undefined;
      try {
        peer = await opts.connect();
        const attach = await peer.attach(attachRequest(set, opts.sync));
        if (attach.holder !== set.meta("holder_replica")) {
          throw new ImzError("FILESET_MISMATCH", `the holder of ${root} changed (now replica ${attach.holder})`, {
            hint: "run intermezzo-sync once without --watch to re-join it, then go live again",
          });
        }
        await peer.watch(permits);
        livePeer = peer;
        setState("live");
        backoff = opts.backoffMs ?? 1000;
        const ended = peer.ended ?? new Promise<never>(() => undefined);
        let lost: Error | undefined;
        void ended.then((e) => {
          lost = e ?? new ImzError("CONNECTION_LOST", "the holder closed the connection");
          kick.ring();
        });
        kick.ring(); // catch up at once: what was journaled while disconnected, what the holder logged
        while (!signal.aborted) {
          const revalidating: boolean = unsettled() ? await kick.waitFor(SETTLE_MS) : (await kick.wait(), false);
          if (lost) throw lost;
          if (signal.aborted) break;
          const tally = newTally();
          try {
            exchanges.begin();
            await withWriteLock(set, () => exchange(set, peer!, tally, opts.sync, resolve, false, revalidating));
            exchanges.end(Number(set.meta("last_seen")));
            if (revalidating) setUnsettled(false);
            // or left records to ship (an object that gave up a fid the holder took, `twin.ts`)
            else if (tally.conflicts.length + tally.problems.length > 0 || set.cml.count() > 0) setUnsettled(true);
          } catch (err) {
            // a dropped connection reconnects; anything else is reported and tried again next
            // time — at the latest once quiet (its pending records are not left waiting for a change)
            if (isDrop(err) || lost) throw lost ?? err;
            opts.onError?.(err);
            setUnsettled(true);
            continue;
          }
          if (tally.recordsShipped + tally.recordsApplied + tally.conflicts.length + tally.problems.length > 0) {
            info.lastExchange = Date.now();
            set.setMeta("attachment", JSON.stringify(info));
            opts.onExchange?.(tally);
          }
        }
      } catch (err) {
        if (!isDrop(err) || signal.aborted) {
          if (signal.aborted) break;
          throw err;
        }
        opts.onError?.(err);
        setState("disconnected", (err as Error).message);
        await peer?.close().catch(() => undefined);
        peer = undefined;
        if ((await backOff(backoff, signal)) === "network") opts.onNetwork?.();
        backoff = Math.min(backoff * 2, opts.maxBackoffMs ?? 60_000);
        continue;
      } finally {
        livePeer = undefined;
        permits.dropAll();
        exchanges.flush();
        if (peer) await peer.close(Number(set.meta("last_seen"))).catch(() => undefined);
      }
    }
  } finally {
    await upcalls?.close();
    clearInterval(cmlPoll);
    await watcher?.close();
    if (set.db.open) setState("stopped");
    release();
    set.close();
  }
}

/** A coalescing wake-up: rings while nobody waits are remembered as one. */
class Kick {
  private rung = false;
  private waiter: (() => void) | undefined;

  ring(): void {
    this.rung = true;
    this.waiter?.();
  }

  async wait(): Promise<void> {
    if (!this.rung) await new Promise<void>((r) => (this.waiter = r));
    this.waiter = undefined;
    this.rung = false;
  }

  /** Waits for a ring, or `ms` of quiet: true when the quiet ended it. */
  async waitFor(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const quiet = new Promise<true>((r) => (timer = setTimeout(() => r(true), ms)));
    const timedOut = await Promise.race([this.wait().then(() => false), quiet]);
    clearTimeout(timer);
    if (timedOut) this.waiter = undefined; // nobody waits on the ring any more: a later one is remembered
    return timedOut;
  }
}

/** Quiet time after exchanges that met conflicts or problems before the settle revalidation (ms). */
export const SETTLE_MS = 3000;

/** Meta key: set while a settle revalidation is due (see SETTLE_MS), across restarts. */
const SETTLE_DUE = "settle_due";

/** How often a backing-off attachment looks at the host's network addresses (ms). */
export const NETWORK_LOOK_MS = 1000;

/** The host's network addresses, as one comparable text. */
function addresses(): string {
  const all = Object.entries(os.networkInterfaces()).flatMap(([name, list]) => (list ?? []).map((a) => `${name} ${a.address}`));
  return all.sort().join("\n");
}

/**
 * Waits `ms`, or until `signal` aborts, or until the host's network addresses change (a network
 * that comes back: a laptop rejoining Wi-Fi, a VPN coming up), when retrying at once is worth it.
 * Resolves with why it ended. `look` reads the addresses (tests give their own).
 */
export function backOff(ms: number, signal: AbortSignal, look: () => string = addresses): Promise<"time" | "network" | "stopped"> {
  return new Promise((resolve) => {
    const t = setTimeout(() => done("time"), ms);
    const before = look();
    const poll = setInterval(() => {
      if (look() !== before) done("network");
    }, NETWORK_LOOK_MS);
    const stopped = (): void => done("stopped");
    function done(why: "time" | "network" | "stopped"): void {
      clearTimeout(t);
      clearInterval(poll);
      signal.removeEventListener("abort", stopped);
      resolve(why);
    }
    signal.addEventListener("abort", stopped, { once: true });
  });
}
