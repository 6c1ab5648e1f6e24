/**
 * `intermezzo-sync --watch`: a first sync, then the session stays attached until SIGINT or SIGTERM,
 * printing a line for each exchange that did something and each change of state. Either form:
 * the replica here (the pull form, `attachment.ts`), or the replica on the remote host and this
 * side its holder (the push form, `push-live.ts`: the replica's attachment runs there and reports
 * here). Both print the same lines.
 */
import type { SyncTally } from "../sync/client.js";
import type { RemoteStream, RemoteSyncOptions } from "../sync/remote-replica.js";
import type { HolderPeer } from "../sync/peer.js";
import type { SyncOptions, SyncReport } from "../sync/sync.js";
import { readConfig } from "../conflict/config.js";
import { ImzError } from "../errors.js";
import { ExitCode, formatError, type ExitCodeValue } from "./exit.js";
import { conflictLine, printReport } from "./report.js";

/**
 * How a sync runs (as `intermezzo-sync` plans it, for one run or a live session): the replica here,
 * its holder reached through a peer, or on the remote host with this side holding.
 */
export type SyncPlan =
  | { kind: "replica-here"; replicaRoot: string; holder: "src" | "dest"; open: () => Promise<HolderPeer> }
  | { kind: "replica-there"; holderRoot: string; holder: "src" | "dest"; open: () => Promise<RemoteStream> };

/** What the command line says about a live session's output. */
export interface LiveCli {
  src: string;
  dest: string;
  json: boolean;
  dryRun: boolean;
  notifyCommand?: string;
}

/** Runs a live session until SIGINT or SIGTERM (then exit 0). */
export async function runLiveSession(plan: SyncPlan, options: SyncOptions & RemoteSyncOptions, o: LiveCli): Promise<ExitCodeValue> {
  if (o.dryRun) throw new ImzError("USAGE", "--watch and --dry-run do not go together", { hint: "drop one of them" });
  const stop = new AbortController();
  const quit = (): void => stop.abort();
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
  const out = output(plan, o);
  try {
    if (plan.kind === "replica-here") {
      const { runLive } = await import("../sync/attachment.js");
      await runLive(plan.replicaRoot, { sync: options, connect: plan.open, ...out }, stop.signal);
    } else {
      const { runPushLive } = await import("../sync/push-live.js");
      const dest = plan.holder === "dest" ? o.src : o.dest;
      await runPushLive(plan.holderRoot, { dest, sync: options, server: { owner: options.owner }, open: plan.open, ...out }, stop.signal);
    }
  } finally {
    process.off("SIGINT", quit);
    process.off("SIGTERM", quit);
  }
  return ExitCode.OK;
}

/** The session's printed lines, the same in both forms. */
function output(plan: SyncPlan, o: LiveCli): {
  onFirst: (r: SyncReport) => void;
  onExchange: (t: SyncTally) => void;
  onState: (s: { state: string; error?: string }) => void;
  onError: (err: unknown) => void;
  onNetwork: () => void;
} {
  const stamp = (): string => new Date().toISOString().slice(11, 23);
  const [replica, held] = plan.holder === "dest" ? [o.src, o.dest] : [o.dest, o.src];
  // the hook runs here, with this side's config (the holder's, when the replica is remote)
  const configRoot = plan.kind === "replica-here" ? plan.replicaRoot : plan.holderRoot;
  return {
    onFirst: (r) => printReport(r, { json: o.json, src: o.src, dest: o.dest }),
    onExchange: (t) => {
      const conflicts = t.conflicts.length > 0 ? `, ${t.conflicts.length} conflict(s) settled` : "";
      const problems = t.problems.length > 0 ? `, ${t.problems.length} problem(s): ${t.problems.map((p) => `${p.path} [${p.code}]`).join(", ")}` : "";
      process.stdout.write(`${stamp()} ${t.recordsShipped} record(s) reintegrated, ${t.recordsApplied} update(s) applied${conflicts}${problems}\n`);
      for (const c of t.conflicts) process.stdout.write(`  ${conflictLine(c, replica, held)}\n`);
      const hook = o.notifyCommand ?? readConfig(configRoot).notifyCommand;
      if (hook && t.conflicts.length > 0) {
        import("../conflict/notify.js")
          .then(({ notifyConflicts }) => notifyConflicts(hook, { fileset: { replica, holder: held }, conflicts: t.conflicts }))
          .catch((err: unknown) => process.stderr.write(formatError("intermezzo-sync", err) + "\n"));
      }
    },
    onState: (s) => process.stderr.write(`intermezzo-sync: ${stamp()} ${s.state}${s.error ? `: ${s.error}` : ""}\n`),
    onError: (err) => process.stderr.write(formatError("intermezzo-sync", err) + "\n"),
    onNetwork: () => process.stderr.write(`intermezzo-sync: ${stamp()} the network changed: retrying now\n`),
  };
}
