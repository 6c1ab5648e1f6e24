/**
 * `intermezzo replicate SERVER DIR [--lazy]`: make DIR (new or empty) a replica of the file set
 * SERVER holds. Without `--lazy` a full copy, as a first `intermezzo-sync DIR SERVER` would make;
 * with it, names and attributes only: file data stays on the holder until first read through
 * `intermezzo mount DIR MOUNTPOINT`, which fetches it from SERVER (recorded in the file set, with
 * `-i` and `--remote-command` when given).
 * Later, `intermezzo-sync DIR SERVER` keeps either kind current.
 */
import type { Command } from "commander";
import { connectHolder } from "../sync/connect.js";
import { prepareReplicaDir, replicate, type ReplicateReport } from "../sync/replicate.js";
import { ExitCode, runAction, type ExitCodeValue } from "./exit.js";
import { human } from "./report.js";

interface ReplicateFlags {
  lazy: boolean;
  json: boolean;
  owner: boolean;
  identity: string[];
  acceptNew: boolean;
  remoteCommand?: string;
}

/** Registers `replicate`. */
export function register(program: Command): void {
  program
    .command("replicate")
    .description("make DIR a new replica of the file set SERVER holds (--lazy: names and attributes now, data on first use)")
    .argument("<server>", "the holder: a directory, [user@]host:path, ssh://user@host:port/path or imz://host:port/fileset")
    .argument("<dir>", "a new or empty directory")
    .option("--lazy", "fetch names and attributes only; file data arrives on first read through 'intermezzo mount'", false)
    .option("--json", "print a JSON summary on stdout", false)
    .option("--no-owner", "do not replicate numeric ownership (it is replicated when running as root)")
    .option("-i, --identity <file>", "SSH private key file (repeatable); default ~/.ssh/id_*", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option("--accept-new", "add an unknown SSH host key to known_hosts (a changed key is always refused)", false)
    .option("--remote-command <cmd>", "command that runs intermezzo on the remote host")
    .action((server: string, dir: string, o: ReplicateFlags) => runAction("intermezzo", () => run(server, dir, o)));
}

async function run(server: string, dir: string, o: ReplicateFlags): Promise<ExitCodeValue> {
  prepareReplicaDir(dir);
  const peer = await connectHolder(server, {
    owner: o.owner,
    remote: { identityFiles: o.identity.length > 0 ? o.identity : undefined, hostKeyPolicy: o.acceptNew ? "accept-new" : "strict", remoteCommand: o.remoteCommand },
  });
  const ssh = { identityFiles: o.identity, ...(o.remoteCommand !== undefined ? { remoteCommand: o.remoteCommand } : {}) };
  const r = await replicate(server, dir, peer, { lazy: o.lazy, owner: o.owner, ssh });
  process.stdout.write(o.json ? JSON.stringify({ server, dir, lazy: o.lazy, ...r }) + "\n" : describe(server, dir, o.lazy, r));
  return r.sync.problems.length > 0 ? ExitCode.PARTIAL : ExitCode.OK;
}

function describe(server: string, dir: string, lazy: boolean, r: ReplicateReport): string {
  const out = [`replicated ${server} into ${dir}: ${r.objects} object(s), ${r.sync.filesReceived} file(s) of data (${human(r.sync.bytesReceived)})`];
  if (lazy) {
    out.push(`lazy: ${r.placeholders} file(s) (${human(r.placeholderBytes)}) stay on the holder until first read`);
    out.push(`read them through the filter: intermezzo mount ${dir} MOUNTPOINT`);
  }
  for (const p of r.sync.problems) out.push(`problem [${p.code}]: ${p.path}: ${p.message}`);
  return out.join("\n") + "\n";
}
