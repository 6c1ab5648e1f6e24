/**
 * `intermezzo status DIR [--json]`: what a file set is and where it stands — its role and ids, the
 * volume stamp (holder) or last-seen stamp (replica), pending CML records, whether a filter journals
 * it now (so a sync will not scan), open conflicts, and its live sessions: a replica's attachment, a
 * holder's push sessions.
 */
import type { Command } from "commander";
import { readConflicts } from "../conflict/store.js";
import os from "node:os";
import { FileSet } from "../journal/fileset.js";
import { isAlive } from "../journal/lock-file.js";
import type { AttachmentInfo } from "../sync/attachment.js";
import type { RegisteredReplica } from "../journal/replicas.js";
import { readPushSessions, type PushSessionInfo } from "../sync/push-session.js";
import { runAction } from "./exit.js";

/** The holder's registered replicas, a line each (none for a replica's status). */
function replicaLines(replicas: RegisteredReplica[] | undefined, floor: number | undefined): string[] {
  if (!replicas) return [];
  const head = `  replicas: ${replicas.length}${floor ? `; log compacted up to volume ${floor}` : ""}`;
  return [head, ...replicas.map((r) => `    ${r.replica} at ${r.place || "(unknown)"}: last seen volume ${r.lastSeen}, last sync ${new Date(r.lastSync).toISOString()}`)];
}

/** A session's info with `stale`: true when it claims to run but its process is gone (killed). */
function withStale<T extends AttachmentInfo>(a: T): T & { stale: boolean } {
  return { ...a, stale: a.state !== "stopped" && (a.host !== os.hostname() || !isAlive(a.pid)) };
}

/** A replica's live attachment (`intermezzo-sync --watch`), if one was ever started. */
function attachmentOf(set: FileSet): (AttachmentInfo & { stale: boolean }) | null {
  const raw = set.metaOr("attachment", "");
  if (raw === "") return null;
  try {
    return withStale(JSON.parse(raw) as AttachmentInfo);
  } catch {
    return null;
  }
}

/** Where a live session stands, with its last exchange. */
function sessionState(a: AttachmentInfo & { stale: boolean }): string {
  const since = new Date(a.since).toISOString();
  const state = a.stale ? `not live (its process ${a.pid} is gone; it was ${a.state} since ${since})` : `${a.state} since ${since}${a.error ? ` (${a.error})` : ""}`;
  return `${state}${a.lastExchange ? `; last exchange ${new Date(a.lastExchange).toISOString()}` : ""}`;
}

function attachmentLines(a: (AttachmentInfo & { stale: boolean }) | null | undefined): string[] {
  return a ? [`  live attachment: ${sessionState(a)}`] : [];
}

/** The holder's push sessions (`intermezzo-sync --watch` with the replica remote), a line each. */
function pushSessionLines(sessions: Array<PushSessionInfo & { stale: boolean }> | undefined): string[] {
  return (sessions ?? []).map((p) => `  push session to ${p.dest}: ${sessionState(p)}`);
}

/** Registers `status`. */
export function register(program: Command): void {
  program
    .command("status")
    .description("show a file set's role, stamps, pending records, filter state and open conflicts")
    .argument("<dir>", "a file set")
    .option("--json", "one JSON object", false)
    .action((dir: string, o: { json: boolean }) =>
      runAction("intermezzo", async () => {
        const set = FileSet.open(dir);
        try {
          const conflicts = readConflicts(set);
          const status = {
            root: set.root,
            name: set.name,
            fileset: set.filesetId,
            role: set.role,
            replica: set.replicaId,
            holder: set.role === "holder" ? set.replicaId : set.meta("holder_replica"),
            volume: set.role === "holder" ? set.log.head() : Number(set.meta("last_seen") || "0"),
            objects: set.fsdb.count(),
            pending: set.cml.count(),
            filtered: set.isContinuouslyFiltered(),
            conflicts: { open: conflicts.filter((c) => c.status === "open").length, total: conflicts.length },
            ...(set.role === "holder" ? { replicas: set.replicas.list(), logFloor: set.log.floor(), pushSessions: readPushSessions(set.root).map(withStale) } : {}),
            ...(set.role === "replica" ? { attachment: attachmentOf(set) } : {}),
          };
          if (o.json) {
            process.stdout.write(JSON.stringify(status) + "\n");
            return;
          }
          const stamp = set.role === "holder" ? `volume stamp ${status.volume}` : `holder ${status.holder || "(none yet)"}, last seen volume ${status.volume}`;
          process.stdout.write(
            [
              `${status.root}: file set ${status.name} (${status.fileset || "not yet joined"}), ${status.role}, replica ${status.replica}`,
              `  ${stamp}; ${status.objects} object(s); ${status.pending} pending record(s)`,
              `  ${status.filtered ? "journaled by a live filter: a sync will not scan it" : "not filtered now: a sync scans it first"}`,
              `  conflicts: ${status.conflicts.open} open of ${status.conflicts.total}${status.conflicts.open > 0 ? ` (intermezzo conflicts ${dir})` : ""}`,
              ...replicaLines(status.replicas, status.logFloor),
              ...pushSessionLines(status.pushSessions),
              ...attachmentLines(status.attachment),
            ].join("\n") + "\n",
          );
        } finally {
          set.close();
        }
      }),
    );
}
