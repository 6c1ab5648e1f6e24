/**
 * `intermezzo status DIR [--json]`: what a file set is and where it stands — its role and ids, the
 * volume stamp (holder) or last-seen stamp (replica), pending CML records, whether a filter journals
 * it now (so a sync will not scan), and open conflicts.
 */
import type { Command } from "commander";
import { readConflicts } from "../conflict/store.js";
import os from "node:os";
import { FileSet } from "../journal/fileset.js";
import { isAlive } from "../journal/lock-file.js";
import type { AttachmentInfo } from "../sync/attachment.js";
import type { RegisteredReplica } from "../journal/replicas.js";
import { runAction } from "./exit.js";

/** The holder's registered replicas, a line each (none for a replica's status). */
function replicaLines(replicas: RegisteredReplica[] | undefined, floor: number | undefined): string[] {
  if (!replicas) return [];
  const head = `  replicas: ${replicas.length}${floor ? `; log compacted up to volume ${floor}` : ""}`;
  return [head, ...replicas.map((r) => `    ${r.replica} at ${r.place || "(unknown)"}: last seen volume ${r.lastSeen}, last sync ${new Date(r.lastSync).toISOString()}`)];
}

/** A replica's live attachment (`intermezzo-sync --watch`), if one was ever started; `stale` when its process is gone. */
function attachmentOf(set: FileSet): (AttachmentInfo & { stale: boolean }) | null {
  const raw = set.metaOr("attachment", "");
  if (raw === "") return null;
  try {
    const a = JSON.parse(raw) as AttachmentInfo;
    return { ...a, stale: a.state !== "stopped" && (a.host !== os.hostname() || !isAlive(a.pid)) };
  } catch {
    return null;
  }
}

function attachmentLines(a: (AttachmentInfo & { stale: boolean }) | null | undefined): string[] {
  if (!a) return [];
  const since = new Date(a.since).toISOString();
  const state = a.stale ? `not live (its process ${a.pid} is gone; it was ${a.state} since ${since})` : `${a.state} since ${since}${a.error ? ` (${a.error})` : ""}`;
  const last = a.lastExchange ? `; last exchange ${new Date(a.lastExchange).toISOString()}` : "";
  return [`  live attachment: ${state}${last}`];
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
            ...(set.role === "holder" ? { replicas: set.replicas.list(), logFloor: set.log.floor() } : {}),
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
              ...attachmentLines(status.attachment),
            ].join("\n") + "\n",
          );
        } finally {
          set.close();
        }
      }),
    );
}
