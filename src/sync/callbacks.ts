/**
 * Callbacks and BreakCallback, the holder's side (the paper's update notification: "the server will
 * notify clients holding callbacks on objects before storing modified objects … handled as a multi
 * RPC"). A replica attached live (`watch`) holds a callback on the file set: its promise that what it
 * caches is current. When the holder's log grows — a replica's reintegration, the holder's own tree
 * journaled live — every *other* replica holding a callback gets a `break` request naming the log's
 * new volume stamp and the objects changed, sent to all at once and gathered under one deadline
 * ({@link multiRpc}). A replica answers once it has applied the log up to that stamp: a full replica
 * has brought the new versions in, a lazy one has dropped the changed files back to placeholders.
 *
 * Invariants:
 * - One break in flight per replica. What changes meanwhile is merged into its next break (the
 *   newest stamp, the union of objects): a slow or stalled replica costs one pending entry, never a
 *   queue, and never delays the others' breaks.
 * - A replica that does not answer within the deadline has a *lapsed* callback: it is logged, and no
 *   more breaks go to it until its late answer arrives (then it gets what it missed at once). Its
 *   answer is a promise about the log, so nothing is lost while it lapses: it catches up from there.
 * - A replica is never sent the changes it made itself (its reintegration already told it).
 *
 * The table is per holding location and per process: every connection a process serves live shares
 * it (Lento's listener serves all its replicas from one process; see permits.ts for why that matters).
 */
import { listenLog } from "../journal/log-bell.js";
import { FileSet } from "../journal/fileset.js";
import { multiRpc, type CallOutcome } from "./multi-rpc.js";

/** A BreakCallback request: the log now ends at `volume`; these objects changed (all of them when `all`). */
export interface BreakCallback {
  volume: number;
  fids: string[];
  all?: boolean;
}

/** Most fids named in one break; past it the break says `all`. */
export const MAX_BREAK_FIDS = 1000;
/** How long a break round waits for answers by default (ms). */
export const CALLBACK_TIMEOUT_MS = 10_000;

/** One round of breaks and how each replica answered. */
export interface BreakRound {
  volume: number;
  outcome: Map<string, CallOutcome>;
}

/** Options of a holder's callbacks. */
export interface CallbackOptions {
  /** The deadline of a round (default {@link CALLBACK_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Lines for the holder's log (a lapsed callback, a late answer, a failed break). */
  log?: (line: string) => void;
  /** Each round's outcome (tests, diagnostics). */
  onRound?: (round: BreakRound) => void;
}

interface Holder {
  replica: string;
  send: (b: BreakCallback) => Promise<void>;
  /** The stamp the replica has been told of (or that its own changes reached). */
  told: number;
  /** What it is still to be told: the newest stamp and the objects changed since `told`. */
  want: number;
  fids: Set<string>;
  all: boolean;
  inFlight: boolean;
  lapsed: boolean;
}

/** The callbacks of one holding location in this process. */
class CallbackTable {
  readonly holders = new Set<Holder>();
  private seen: number;
  private readonly stopBell: () => void;

  constructor(
    private readonly set: FileSet,
    private readonly opts: CallbackOptions,
  ) {
    this.seen = set.log.head();
    this.stopBell = listenLog(set, (volume) => this.grown(volume));
  }

  /** The log grew to `volume`: note what each holder must hear, then break what can be broken now. */
  private grown(volume: number): void {
    if (volume <= this.seen) return;
    const touched = this.set.log.touched(this.seen, volume);
    this.seen = volume;
    for (const h of this.holders) {
      let news = false;
      for (const t of touched) {
        if (t.origin === h.replica) continue;
        news = true;
        if (h.fids.size < MAX_BREAK_FIDS) h.fids.add(t.fid);
        else h.all = true;
      }
      if (news) h.want = Math.max(h.want, volume);
    }
    void this.round();
  }

  /** Sends a break to every holder that has news and none in flight, then gathers the answers. */
  private async round(): Promise<void> {
    const calls = new Map<Holder, () => Promise<unknown>>();
    const volume = this.seen;
    for (const h of this.holders) {
      if (h.inFlight || h.lapsed || h.want <= h.told) continue;
      const b: BreakCallback = { volume: h.want, fids: h.all ? [] : [...h.fids], ...(h.all ? { all: true } : {}) };
      h.fids = new Set();
      h.all = false;
      h.inFlight = true;
      calls.set(h, () => this.deliver(h, b));
    }
    if (calls.size === 0) return;
    const timeoutMs = this.opts.timeoutMs ?? CALLBACK_TIMEOUT_MS;
    const outcome = await multiRpc(calls, timeoutMs);
    for (const [h, o] of outcome) {
      if (o !== "lapsed" || !h.inFlight) continue; // answered just after the deadline: nothing lapsed
      h.lapsed = true;
      this.opts.log?.(`replica ${h.replica} did not answer BreakCallback within ${timeoutMs / 1000} s: its callback lapsed (it catches up from the log when it answers)`);
    }
    this.opts.onRound?.({ volume, outcome: new Map([...outcome].map(([h, o]) => [h.replica, o])) });
  }

  /** One break to one holder; its answer (however late) lets the next one go. */
  private async deliver(h: Holder, b: BreakCallback): Promise<void> {
    try {
      await h.send(b);
      h.told = Math.max(h.told, b.volume);
    } catch (err) {
      // the connection is failing; its close removes the holder. Until then, keep what was to be said.
      h.want = Math.max(h.want, b.volume);
      for (const f of b.fids) h.fids.add(f);
      h.all ||= b.all === true;
      if (this.holders.has(h)) this.opts.log?.(`BreakCallback to replica ${h.replica} failed: ${(err as Error).message}`);
      throw err;
    } finally {
      h.inFlight = false;
      if (h.lapsed) {
        h.lapsed = false;
        this.opts.log?.(`replica ${h.replica} answered BreakCallback late; its callback holds again`);
      }
      if (h.want > h.told && this.holders.has(h)) setImmediate(() => void this.round());
    }
  }

  close(): void {
    this.stopBell();
    this.set.close();
  }
}

const tables = new Map<string, { table: CallbackTable; users: number }>();

/**
 * Gives the replica `replica` a callback on the file set held at `root`: from now on each change
 * others make is broken to it through `send` (resolving once the replica has applied the log up to
 * the break's stamp). `told` is the stamp it has applied. Returns the function that drops it.
 */
export function holdCallback(root: string, replica: string, told: number, send: (b: BreakCallback) => Promise<void>, opts: CallbackOptions = {}): () => void {
  let entry = tables.get(root);
  if (!entry) tables.set(root, (entry = { table: new CallbackTable(FileSet.open(root), opts), users: 0 }));
  entry.users++;
  const h: Holder = { replica, send, told, want: told, fids: new Set(), all: false, inFlight: false, lapsed: false };
  entry.table.holders.add(h);
  const mine = entry;
  let dropped = false;
  return () => {
    if (dropped) return;
    dropped = true;
    mine.table.holders.delete(h);
    if (--mine.users > 0) return;
    tables.delete(root);
    mine.table.close();
  };
}
