/** `intermezzo log DIR [--json]`: print the CML (pending) and the server log (accepted). */
import type { Command } from "commander";
import { FileSet } from "../journal/fileset.js";
import type { JournalRecord } from "../journal/records.js";
import { describePath } from "../sync/client.js";
import { runAction } from "./exit.js";

function line(set: FileSet, r: JournalRecord, version?: string): string {
  const v = version ? ` -> ${version}` : "base" in r ? ` (base ${r.base || "new"})` : "";
  const extra = r.op === "rename" ? ` -> ${describePath(set, { ...r, parent: r.newParent, name: r.newName } as JournalRecord)}` : "";
  return `${String(r.seq).padStart(6)} ${r.op.padEnd(8)} ${describePath(set, r)}${extra}  [${r.fid}${v}]`;
}

/** Registers `log`. */
export function register(program: Command): void {
  program
    .command("log")
    .description("print the file set's CML (pending records) and server log (accepted records)")
    .argument("<dir>", "a file set")
    .option("--json", "one JSON object: {cml, serverLog}", false)
    .option("--limit <n>", "at most this many server log records", "1000")
    .action((dir: string, o: { json: boolean; limit: string }) =>
      runAction("intermezzo", async () => {
        const set = FileSet.open(dir);
        try {
          const cml = set.cml.all();
          const head = set.log.head();
          const limit = Math.max(1, Number(o.limit) || 1000);
          const serverLog = set.log.since(Math.max(0, head - limit), limit);
          if (o.json) {
            process.stdout.write(JSON.stringify({ fileset: set.filesetId, replica: set.replicaId, role: set.role, volume: head, cml, serverLog }) + "\n");
            return;
          }
          const out = [`file set ${set.name} (${set.filesetId}), ${set.role}, replica ${set.replicaId}, volume ${head}`];
          out.push(`CML: ${cml.length} pending record(s)`, ...cml.map((r) => line(set, r)));
          out.push(`server log: ${head} accepted record(s)${head > limit ? ` (last ${limit})` : ""}`, ...serverLog.map((l) => line(set, l.record, l.version)));
          process.stdout.write(out.join("\n") + "\n");
        } finally {
          set.close();
        }
      }),
    );
}
