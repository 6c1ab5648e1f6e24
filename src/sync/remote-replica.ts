/**
 * A sync whose replica is on another host and whose holder is here (a push mirror to
 * `web1:/srv/www`, or a two-way sync where this side holds): the remote `intermezzo serve` is asked
 * to `sync` as the replica (`replica-role.ts`) and this side serves it as its holder over the same
 * connection, with the handlers every holder uses (`serve.ts`).
 */
import type { Duplex } from "node:stream";
import { Connection } from "../ssh/connection.js";
import type { SyncOptions, SyncReport } from "./sync.js";
import { Replies, SOFTWARE, check } from "./protocol.js";
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

/**
 * Runs one sync with the replica at the far end of `remote` and this host's `holderRoot` holding.
 * Returns the replica's report, with this connection's wire bytes.
 */
export async function syncRemoteReplica(holderRoot: string, remote: RemoteStream, options: RemoteSyncOptions): Promise<SyncReport> {
  const holder = holderHandlers(() => conn, () => holderRoot, { owner: options.owner });
  const conn = new Connection(remote.stream, remote.stream, { handlers: holder.handlers });
  try {
    try {
      await conn.start({ software: SOFTWARE, role: "holder" });
    } catch (err) {
      conn.fail(err as Error);
      throw await remote.explain(err as Error);
    }
    const report = check(Replies.sync, await conn.call({ op: "sync", options }), "sync reply");
    return { ...report, wire: { ...conn.stats } };
  } finally {
    await holder.close();
    conn.close();
    await remote.close();
  }
}
