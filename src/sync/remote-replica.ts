/**
 * A sync whose replica is on another host and whose holder is here (a push mirror to
 * `web1:/srv/www`, or a two-way sync where this side holds): the remote `intermezzo serve` is asked
 * to `sync` as the replica (`replica-role.ts`) and this side serves it as its holder over the same
 * connection, with the handlers every holder uses (`serve.ts`). With `live` the remote replica
 * stays attached over the connection (`push-live.ts` reconnects it).
 */
import type { Duplex } from "node:stream";
import { ImzError } from "../errors.js";
import { Connection, type Handler, type OpHeader } from "../ssh/connection.js";
import type { Static } from "../schema.js";
import type { SyncOptions, SyncReport } from "./sync.js";
import { LiveEvent, Replies, SOFTWARE, check } from "./protocol.js";
import type { ServerOptions } from "./server.js";
import { holderHandlers } from "./serve.js";

/** A byte stream to the remote `intermezzo serve`, and how to explain and end it. */
export interface RemoteStream {
  stream: Duplex;
  close(): Promise<void>;
  /** Explains a failed handshake (the remote command's exit status and stderr). */
  explain(err: Error): Promise<Error>;
}

/** What the remote replica is told to do (the replica-side {@link SyncOptions} that cross the wire). */
export type RemoteSyncOptions = Required<Pick<SyncOptions, "dryRun" | "mirror" | "maxDeleteFraction" | "force" | "owner" | "replicaIsSrc" | "policies">>;

/** What a live remote replica tells its holder (a checked `live` message). */
export type RemoteLiveEvent = Static<typeof LiveEvent>;

/** How long a stopping holder waits for the remote replica to let go before it cuts the connection (ms). */
const STOP_WAIT_MS = 10_000;

/**
 * Runs one sync with the replica at the far end of `remote` and this host's `holderRoot` holding.
 * Returns the replica's report, with this connection's wire bytes.
 */
export async function syncRemoteReplica(holderRoot: string, remote: RemoteStream, options: RemoteSyncOptions): Promise<SyncReport> {
  return asHolder(holderRoot, remote, { owner: options.owner }, {}, async (conn) => {
    const report = check(Replies.sync, await conn.call({ op: "sync", options }), "sync reply");
    return { ...report, wire: { ...conn.stats } };
  });
}

/**
 * Keeps the replica at the far end of `remote` live with this host's `holderRoot` holding: it
 * runs the replica's attachment beside its tree, attaching (after its first sync, again) over this
 * connection, and reports through `onEvent`. Resolves once `signal` has aborted and the remote
 * replica has let go (this side ends its stream; the remote `serve` stops and exits); rejects with
 * why when the connection ends otherwise (a cut, the remote killed) or the replica stops for good.
 */
export async function liveRemoteReplica(
  holderRoot: string,
  remote: RemoteStream,
  options: RemoteSyncOptions,
  serverOptions: ServerOptions,
  onEvent: (e: RemoteLiveEvent) => void,
  onBadEvent: (err: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const onMessage = (h: OpHeader): void => {
    if (h.op !== "live") return;
    try {
      onEvent(check(LiveEvent, h, "live message"));
    } catch (err) {
      onBadEvent(err);
    }
  };
  return asHolder(holderRoot, remote, serverOptions, { reattach: true, onMessage }, async (conn) => {
    let cutLater: NodeJS.Timeout | undefined;
    const stop = (): void => {
      conn.close();
      cutLater = setTimeout(() => conn.fail(new ImzError("CONNECTION_LOST", "the remote replica did not stop")), STOP_WAIT_MS);
    };
    if (signal.aborted) return;
    signal.addEventListener("abort", stop, { once: true });
    try {
      check(Replies.live, await conn.call({ op: "live", options }), "live reply");
      throw new ImzError("CONNECTION_LOST", "the remote replica stopped", { hint: "it reconnects; see the remote host's log if it keeps stopping" });
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    } finally {
      clearTimeout(cutLater);
      signal.removeEventListener("abort", stop);
    }
  });
}

/**
 * Serves the replica at the far end of `remote` as its holder while `use` runs, then closes the
 * connection, the holder's file set and the stream. `reattach`: one attachment after another on
 * this connection (a live replica attaches for its first sync, then again to stay live).
 */
async function asHolder<T>(
  holderRoot: string,
  remote: RemoteStream,
  serverOptions: ServerOptions,
  session: { reattach?: boolean; onMessage?: (h: OpHeader) => void },
  use: (conn: Connection) => Promise<T>,
): Promise<T> {
  const holder: ReturnType<typeof holderHandlers> = session.reattach ? attachments(() => conn, holderRoot, serverOptions) : holderHandlers(() => conn, () => holderRoot, serverOptions);
  const conn: Connection = new Connection(remote.stream, remote.stream, { handlers: holder.handlers, ...(session.onMessage ? { onMessage: session.onMessage } : {}) });
  try {
    try {
      await conn.start({ software: SOFTWARE, role: "holder" });
    } catch (err) {
      conn.fail(err as Error);
      throw await remote.explain(err as Error);
    }
    return await use(conn);
  } finally {
    await holder.close();
    conn.close();
    await remote.close();
  }
}

/**
 * The holder's handlers for a connection that serves one attachment after another: a `close`
 * ends the current one ({@link holderHandlers}: it waits for the requests in flight and closes the
 * file set) and the next `attach` starts a new one.
 */
function attachments(conn: () => Connection, holderRoot: string, opts: ServerOptions): { handlers: Record<string, Handler>; close: () => Promise<void> } {
  const fresh = (): ReturnType<typeof holderHandlers> => holderHandlers(conn, () => holderRoot, opts);
  let current = fresh();
  const handlers: Record<string, Handler> = {};
  for (const op of Object.keys(current.handlers)) handlers[op] = (h, ctx) => current.handlers[op]!(h, ctx);
  handlers["close"] = (h, ctx) => {
    const ending = current;
    current = fresh();
    return ending.handlers["close"]!(h, ctx);
  };
  return { handlers, close: () => current.close() };
}
