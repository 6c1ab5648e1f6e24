/**
 * `intermezzo-sync --watch` on the holder's side of a push mirror (`--mirror --watch /srv/master
 * web1:/srv/www`, as lsyncd runs on a master): the replica is on the remote host, so its live
 * attachment (`attachment.ts`) runs there, beside its tree, under the remote `serve` this side
 * starts (`live`, `replica-role.ts`), and reaches its holder — this process — over the same
 * connection. This side is the holder: it journals its own tree as it changes (the Presto mount
 * when one is up, else one watcher, `holder-watch.ts`, kept for the whole session so that what
 * changes while the connection is down is in the log when it comes back) and pushes the log's
 * growth to the replica (BreakCallback, `callbacks.ts`), which applies it and answers.
 *
 * Only this side can reconnect (the replica cannot dial its holder back through SSH), so the
 * back-off loop is here, the same as the pull form's (`backOff`: 1 s doubling to 60 s, at once
 * when the host's network comes back). A new remote `serve` then starts the replica's attachment
 * again: its first sync scans the replica's tree (nobody watched it meanwhile) and catches up
 * from the log.
 *
 * The session keeps its state on the holder (`push-session.ts`), where `intermezzo status` shows it.
 */
import { fromWireError, isImzError, isTreeRace } from "../errors.js";
import { backOff, isDrop, type AttachmentState } from "./attachment.js";
import type { SyncTally } from "./client.js";
import { watchHolderTree } from "./holder-watch.js";
import { PushSessionRecord } from "./push-session.js";
import { liveRemoteReplica, type RemoteStream, type RemoteSyncOptions } from "./remote-replica.js";
import type { ServerOptions } from "./server.js";
import type { SyncReport } from "./sync.js";

/** Options of {@link runPushLive}. */
export interface PushLiveOptions {
  /** Where the replica is, as given (the session's name in the holder's status, `push-session.ts`). */
  dest: string;
  sync: RemoteSyncOptions;
  server: ServerOptions;
  /** Opens a new stream to the remote `intermezzo serve` (called again after each drop). */
  open: () => Promise<RemoteStream>;
  /** First retry delay after a drop (default 1 s); it doubles up to `maxBackoffMs` (default 60 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** The remote replica's first sync's report (after each connection). */
  onFirst?: (r: SyncReport) => void;
  /** Each exchange of the remote replica that shipped, applied or met something. */
  onExchange?: (t: SyncTally) => void;
  onState?: (s: { state: AttachmentState; error?: string }) => void;
  /** Errors that did not stop the session (this side's, and those the remote replica reports). */
  onError?: (err: unknown) => void;
  /** A back-off cut short because the host's network addresses changed. */
  onNetwork?: () => void;
}

/**
 * True when a push session tries again after `err`: the connection dropped, the replica's tree
 * changed under its first sync, or the replica is still locked by the `serve` of the connection
 * just cut (it notices the cut a moment later, and lets go).
 */
export function pushRetries(err: unknown): boolean {
  return isDrop(err) || isTreeRace(err) || isImzError(err, "LOCKED");
}

/**
 * Keeps the remote replica behind `opts.open` live with the holder at `holderRoot` until `signal`
 * aborts. Throws only what stops the session for good (the replica's first sync refused: an empty
 * source, a file set mismatch, …); drops are retried.
 */
export async function runPushLive(holderRoot: string, opts: PushLiveOptions, signal: AbortSignal): Promise<void> {
  const first = opts.backoffMs ?? 1000;
  let backoff = first;
  let leaveTree: (() => Promise<void>) | undefined;
  const record = new PushSessionRecord(holderRoot, opts.dest, (err) => opts.onError?.(err));
  const state = (s: AttachmentState, error?: string): void => {
    record.state(s, error);
    opts.onState?.({ state: s, ...(error !== undefined ? { error } : {}) });
  };
  try {
    while (!signal.aborted) {
      state("connecting");
      try {
        const remote = await opts.open();
        await liveRemoteReplica(
          holderRoot,
          remote,
          opts.sync,
          opts.server,
          (e) => {
            if (e.event === "first") opts.onFirst?.(e.report);
            else if (e.event === "exchange") {
              record.exchanged();
              opts.onExchange?.(e.tally);
            }
            else if (e.event === "error") opts.onError?.(fromWireError(e.error));
            else if (e.state === "live") {
              backoff = first;
              // the holder's tree stays journaled from now on, connected or not
              leaveTree ??= watchHolderTree(holderRoot, (err) => opts.onError?.(err));
              state("live");
            }
          },
          (err) => opts.onError?.(err),
          signal,
        );
      } catch (err) {
        if (signal.aborted) break;
        if (!pushRetries(err)) throw err;
        opts.onError?.(err);
        state("disconnected", (err as Error).message);
        if ((await backOff(backoff, signal)) === "network") opts.onNetwork?.();
        backoff = Math.min(backoff * 2, opts.maxBackoffMs ?? 60_000);
      }
    }
  } finally {
    await leaveTree?.();
    state("stopped");
  }
}
