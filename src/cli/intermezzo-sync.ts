/**
 * `intermezzo-sync SRC DEST`: one sync between two trees (the command a cron job runs). The
 * first run makes DEST the holder of a new file set and SRC a replica; later runs keep those roles
 * whatever the argument order.
 */
import { Command, Option } from "commander";
import { FileSet } from "../journal/fileset.js";
import { parseEndpoint } from "../ssh/remote-path.js";
import { connectLocal, connectRemote, type LocalTransport } from "../sync/connect.js";
import type { HolderPeer } from "../sync/peer.js";
import { syncFileSets, type SyncReport } from "../sync/sync.js";
import { ImzError } from "../errors.js";
import { readConfig } from "../conflict/config.js";
import { notifyConflicts } from "../conflict/notify.js";
import { ExitCode, formatError, parseCli, runAction, type ExitCodeValue } from "./exit.js";
import { startProgress } from "./progress.js";
import { printReport } from "./report.js";

/** Parsed options of `intermezzo-sync`. */
interface SyncCliOptions {
  mirror: boolean;
  dryRun: boolean;
  json: boolean;
  progress: boolean;
  maxDelete: string;
  force: boolean;
  owner: boolean;
  transport: LocalTransport;
  identity: string[];
  acceptNew: boolean;
  remoteCommand?: string;
  policy: string[];
  notifyCommand?: string;
}

/** Which of two local roots holds the file set (the other is the replica). */
export function holderOf(src: string, dest: string): "src" | "dest" {
  const roleOf = (root: string): string | undefined => {
    if (!FileSet.exists(root)) return undefined;
    const set = FileSet.open(root);
    try {
      return set.role;
    } finally {
      set.close();
    }
  };
  const s = roleOf(src);
  const d = roleOf(dest);
  if (s === "holder" && d === "holder") {
    throw new ImzError("FILESET_MISMATCH", "both trees are holders of file sets; a sync needs one holder and one replica", {
      hint: "remove the .intermezzo/ of the tree that should become the replica",
    });
  }
  return s === "holder" ? "src" : "dest";
}

function percent(v: string): number {
  const n = Number(v.replace(/%$/, ""));
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new ImzError("USAGE", `--max-delete wants a percentage 0-100, not '${v}'`, { hint: "e.g. --max-delete 25" });
  return n / 100;
}

/**
 * Picks the holder and connects to it. Between two local trees the roles come from the file sets
 * (DEST holds on first use); with one remote side, the remote side is always the holder (the
 * replica's work runs here), and two remote sides are refused.
 */
function connect(src: string, dest: string, o: SyncCliOptions): { replicaRoot: string; holder: "src" | "dest"; peer: Promise<HolderPeer> } {
  const s = parseEndpoint(src);
  const d = parseEndpoint(dest);
  if (s.kind === "local" && d.kind === "local") {
    const holder = holderOf(s.path, d.path);
    const [replicaRoot, holderRoot] = holder === "dest" ? [s.path, d.path] : [d.path, s.path];
    return { replicaRoot, holder, peer: connectLocal(holderRoot, o.transport, o.owner) };
  }
  if (s.kind !== "local" && d.kind !== "local") {
    throw new ImzError("USAGE", "both SRC and DEST are remote", { hint: "run intermezzo-sync on one of the two hosts" });
  }
  const [local, remote, holder] = s.kind === "local" ? [s, d, "dest" as const] : [d, s, "src" as const];
  if (local.kind !== "local" || remote.kind === "local") throw new ImzError("USAGE", "internal: endpoint kinds");
  const peer = connectRemote(remote, {
    identityFiles: o.identity.length > 0 ? o.identity : undefined,
    hostKeyPolicy: o.acceptNew ? "accept-new" : "strict",
    remoteCommand: o.remoteCommand,
  });
  return { replicaRoot: local.path, holder, peer };
}

async function run(src: string, dest: string, o: SyncCliOptions): Promise<ExitCodeValue> {
  const maxDeleteFraction = percent(o.maxDelete);
  // the holder is reached while the replica scans (syncFileSets waits for both)
  const { replicaRoot, holder, peer } = connect(src, dest, o);
  const progress = o.progress ? startProgress() : undefined;
  let report: SyncReport;
  try {
    report = await syncFileSets(replicaRoot, peer, {
      onTally: (t) => progress?.attach(t),
      dryRun: o.dryRun,
      mirror: o.mirror,
      maxDeleteFraction,
      force: o.force,
      owner: o.owner,
      replicaIsSrc: holder === "dest",
      policies: o.policy,
    });
  } finally {
    progress?.stop();
  }
  printReport(report, { json: o.json, src, dest });
  const hook = o.notifyCommand ?? readConfig(replicaRoot).notifyCommand;
  if (hook && report.conflicts.length > 0) {
    try {
      await notifyConflicts(hook, { fileset: { replica: replicaRoot, holder: holder === "dest" ? dest : src }, conflicts: report.conflicts });
    } catch (err) {
      process.stderr.write(formatError("intermezzo-sync", err) + "\n");
    }
  }
  if (report.conflicts.length > 0) return ExitCode.CONFLICTS;
  if (report.problems.length > 0) return ExitCode.PARTIAL;
  return ExitCode.OK;
}

/** Builds the `intermezzo-sync` program. */
export function buildSyncProgram(): Command {
  return new Command("intermezzo-sync")
    .description("sync two directory trees through the InterMezzo journal (two-way by default)")
    .argument("<src>", "a directory, [user@]host:path, ssh://user@host:port/path or imz://host:port/fileset")
    .argument("<dest>", "the same forms; between two local trees DEST holds the file set on first use")
    .option("--mirror", "make DEST an exact copy of SRC; DEST-side changes are reverted and kept under .intermezzo/conflicts/", false)
    .option("-n, --dry-run", "list what would change (rsync -i style) and change nothing", false)
    .option("--json", "print a JSON summary on stdout", false)
    .option("--progress", "show bytes, files, rate and ETA on a terminal", false)
    .option("--max-delete <percent>", "refuse a run that deletes more than this share of the tree", "50")
    .option("--force", "run even when the safety checks refuse (mass deletion)", false)
    .option("--no-owner", "do not replicate numeric ownership (it is replicated when running as root)")
    .option("-i, --identity <file>", "SSH private key file (repeatable); default ~/.ssh/id_*", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--accept-new", "add an unknown SSH host key to known_hosts (a changed key is always refused)", false)
    .option("--policy <policy>", "conflict policy: server, client, newer, both or manual; GLOB=POLICY for some paths (repeatable; default both, --mirror client)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--notify-command <cmd>", "run CMD once per sync that met conflicts, with them as JSON on its stdin")
    .option("--remote-command <cmd>", "command that runs intermezzo on the remote host (like rsync's --rsync-path)")
    .addOption(
      new Option("--transport <kind>", "between two local trees: the holder in this process, or a 'serve --stdio' child speaking the wire protocol")
        .choices(["in-process", "stdio"])
        .default("in-process"),
    )
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .action((src: string, dest: string, o: SyncCliOptions) => runAction("intermezzo-sync", () => run(src, dest, o)));
}

/** Entry point used by `bin/intermezzo-sync`. */
export async function main(argv: string[]): Promise<void> {
  await parseCli(buildSyncProgram(), argv);
}
