/**
 * `intermezzo-sync SRC DEST`: one sync between two trees (the command a cron job runs). Roles follow
 * authority: a mirror's SRC (the master) holds its file set and every DEST is a replica kept an exact
 * copy; a new two-way file set is held by DEST unless `--holder src`; later runs keep the roles
 * whatever the argument order.
 */
import { Command, Option } from "commander";
import type { Role } from "../journal/fileset.js";
import type { LocalTransport } from "../sync/connect.js";
import type { SyncReport } from "../sync/sync.js";
import { ImzError } from "../errors.js";
import { ExitCode, formatError, parseCli, runAction, type ExitCodeValue } from "./exit.js";
import type * as SyncRun from "./sync-run.js";
import type { SyncPlan } from "./sync-live.js";

/** The run's machinery, loaded when a run starts ({@link run}); `--help` never loads it. */
let use: typeof SyncRun;

/** Parsed options of `intermezzo-sync`. */
interface SyncCliOptions {
  mirror: boolean;
  dryRun: boolean;
  json: boolean;
  progress: boolean;
  maxDelete: string;
  force: boolean;
  owner: boolean;
  /** False with `--no-specials`. */
  specials: boolean;
  /** False with `--no-xattrs`. */
  xattrs: boolean;
  transport: LocalTransport;
  holder?: "src" | "dest";
  watch: boolean;
  identity: string[];
  acceptNew: boolean;
  remoteCommand?: string;
  policy: string[];
  notifyCommand?: string;
}

/** The role a local root's file set gives it, if it is one. */
function roleOf(root: string): Role | undefined {
  return use.FileSet.roleAt(root);
}

/**
 * Which side holds the file set. Roles follow authority and belong to the file set: an existing
 * file set keeps its roles (a `--holder` that contradicts them is refused with a hint); a new one
 * is held by SRC for `--mirror` (the master), else by the side `--holder` names, else by DEST (the
 * remote side, between a local tree and a remote one). `src`/`dest` are a local root's role, or
 * undefined for a remote side or a tree that is not a file set yet.
 */
export function chooseHolder(src: Role | undefined, dest: Role | undefined, o: { mirror: boolean; holder?: "src" | "dest" }): "src" | "dest" {
  if (src === "holder" && dest === "holder") {
    throw new ImzError("FILESET_MISMATCH", "both trees are holders of file sets; a sync needs one holder and one replica", {
      hint: "remove the .intermezzo/ of the tree that should become the replica",
    });
  }
  const existing = src === "holder" || dest === "replica" ? "src" : src === "replica" || dest === "holder" ? "dest" : undefined;
  if (existing !== undefined && o.holder !== undefined && o.holder !== existing) {
    throw new ImzError("FILESET_MISMATCH", `--holder ${o.holder} contradicts the file set: ${existing.toUpperCase()} already holds it`, {
      hint: "roles belong to the file set once made; drop --holder, or start over by removing both .intermezzo/ directories",
    });
  }
  return existing ?? o.holder ?? (o.mirror ? "src" : "dest");
}

/** Which of two local roots holds the file set (the other is the replica). */
export function holderOf(src: string, dest: string, o: { mirror: boolean; holder?: "src" | "dest" } = { mirror: false }): "src" | "dest" {
  return chooseHolder(roleOf(src), roleOf(dest), o);
}

function percent(v: string): number {
  const n = Number(v.replace(/%$/, ""));
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new ImzError("USAGE", `--max-delete wants a percentage 0-100, not '${v}'`, { hint: "e.g. --max-delete 25" });
  return n / 100;
}

/**
 * Picks the holder and connects to it. Between two local trees the roles come from the file sets
 * ({@link chooseHolder}); with one remote side, the local tree's file set decides, else the same
 * rule (the remote side holds a new two-way file set, SRC a new mirror's). Two remote sides are refused.
 */
function connect(src: string, dest: string, o: SyncCliOptions): SyncPlan {
  const s = use.parseEndpoint(src);
  const d = use.parseEndpoint(dest);
  const choice = { mirror: o.mirror, ...(o.holder ? { holder: o.holder } : {}) };
  if (s.kind === "local" && d.kind === "local") {
    const holder = holderOf(s.path, d.path, choice);
    const [replicaRoot, holderRoot] = holder === "dest" ? [s.path, d.path] : [d.path, s.path];
    return { kind: "replica-here", replicaRoot, holder, open: () => use.connectLocal(holderRoot, o.transport, o.owner) };
  }
  if (s.kind !== "local" && d.kind !== "local") {
    throw new ImzError("USAGE", "both SRC and DEST are remote", { hint: "run intermezzo-sync on one of the two hosts" });
  }
  const [local, remote, localSide] = s.kind === "local" ? [s, d, "src" as const] : [d, s, "dest" as const];
  if (local.kind !== "local" || remote.kind === "local") throw new ImzError("USAGE", "internal: endpoint kinds");
  const role = roleOf(local.path);
  const holder = localSide === "src" ? chooseHolder(role, undefined, choice) : chooseHolder(undefined, role, choice);
  const remoteOptions = {
    identityFiles: o.identity.length > 0 ? o.identity : undefined,
    hostKeyPolicy: o.acceptNew ? ("accept-new" as const) : ("strict" as const),
    remoteCommand: o.remoteCommand,
  };
  // This side holds: the replica's work runs on the remote host, beside its tree.
  if (holder === localSide) return { kind: "replica-there", holderRoot: local.path, holder, open: () => use.openRemoteStream(remote, remoteOptions) };
  return { kind: "replica-here", replicaRoot: local.path, holder, open: () => use.connectRemote(remote, remoteOptions) };
}

async function run(src: string, dest: string, o: SyncCliOptions): Promise<ExitCodeValue> {
  const maxDeleteFraction = percent(o.maxDelete);
  use = await import("./sync-run.js");
  // the holder is reached while the replica scans (syncFileSets waits for both)
  const plan = connect(src, dest, o);
  const { holder } = plan;
  const options = { dryRun: o.dryRun, mirror: o.mirror, maxDeleteFraction, force: o.force, owner: o.owner, specials: o.specials, xattrs: o.xattrs, replicaIsSrc: holder === "dest", policies: o.policy };
  if (o.watch) return (await import("./sync-live.js")).runLiveSession(plan, options, { src, dest, json: o.json, dryRun: o.dryRun, ...(o.notifyCommand !== undefined ? { notifyCommand: o.notifyCommand } : {}) });
  const progress = o.progress && plan.kind === "replica-here" ? use.startProgress() : undefined;
  let report: SyncReport;
  try {
    report =
      plan.kind === "replica-here"
        ? await use.syncFileSets(plan.replicaRoot, plan.open(), { ...options, onTally: (t) => progress?.attach(t) })
        : await (await import("../sync/remote-replica.js")).syncRemoteReplica(plan.holderRoot, await plan.open(), options);
  } finally {
    progress?.stop();
  }
  use.printReport(report, { json: o.json, src, dest });
  // the hook runs here, with this side's config (the holder's, when the replica is remote)
  const hook = o.notifyCommand ?? use.readConfig(plan.kind === "replica-here" ? plan.replicaRoot : plan.holderRoot).notifyCommand;
  if (hook && report.conflicts.length > 0) {
    try {
      const [replica, held] = holder === "dest" ? [src, dest] : [dest, src];
      await (await import("../conflict/notify.js")).notifyConflicts(hook, { fileset: { replica, holder: held }, conflicts: report.conflicts });
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
    .argument("<dest>", "the same forms; DEST holds a new two-way file set, SRC a new --mirror's (see --holder)")
    .option("--mirror", "make DEST an exact copy of SRC (SRC holds a new file set); DEST-side changes are reverted and kept under .intermezzo/conflicts/", false)
    .option("--watch", "after the first sync stay attached: journal and reintegrate the replica's changes as they happen, apply the holder's as it pushes them, reconnect by itself (a remote replica, e.g. --mirror --watch /srv/www web1:/srv/www, is kept live on its host)", false)
    .option("-n, --dry-run", "list what would change (rsync -i style) and change nothing", false)
    .option("--json", "print a JSON summary on stdout", false)
    .option("--progress", "show bytes, files, rate and ETA on a terminal", false)
    .option("--max-delete <percent>", "refuse a run that deletes more than this share of the tree", "50")
    .option("--force", "run even when the safety checks refuse (mass deletion, an empty SRC)", false)
    .addOption(new Option("--holder <side>", "which side holds a new file set (default: SRC with --mirror, else DEST); an existing one keeps its roles").choices(["src", "dest"]))
    .option("--no-owner", "do not replicate numeric ownership (it is replicated when running as root)")
    .option("--no-specials", "skip special files (FIFOs, sockets, devices): not journaled by this run's scan, not made here")
    .option("--no-xattrs", "leave extended attributes and POSIX ACLs out: not journaled by this run's scan, not applied here")
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
