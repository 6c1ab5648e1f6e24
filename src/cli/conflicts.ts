/** `intermezzo conflicts DIR [--json] [--open]`: the file set's conflicts, open and settled. */
import type { Command } from "commander";
import { readConflicts, type ConflictEntry } from "../conflict/store.js";
import { FileSet } from "../journal/fileset.js";
import { runAction } from "./exit.js";

function line(e: ConflictEntry): string {
  const outcome = e.status === "open" ? "parked; the server's version is visible" : e.winner === "both" ? "both kept" : `${e.winner ?? "?"}'s version won`;
  const how = e.kind === "kept" ? e.detail : `policy ${e.policy ?? "?"}: ${outcome}`;
  const where = [e.stored ? `stored ${e.stored}` : "", e.aside ? `copy ${e.aside}` : "", e.resolvedAs ? `resolved: kept ${e.resolvedAs}` : ""].filter(Boolean).join("; ");
  return `${e.status.padEnd(8)} ${e.time}  ${e.kind.padEnd(20)} ${e.path}  (${how})${where ? `  ${where}` : ""}  [${e.id}]`;
}

/** Registers `conflicts`. */
export function register(program: Command): void {
  program
    .command("conflicts")
    .description("list the file set's conflicts: open (parked for 'intermezzo resolve'), auto (settled by a policy) and resolved")
    .argument("<dir>", "a file set")
    .option("--json", "print a JSON array of entries", false)
    .option("--open", "only the open ones", false)
    .action((dir: string, o: { json: boolean; open: boolean }) =>
      runAction("intermezzo", async () => {
        const set = FileSet.open(dir);
        try {
          const entries = readConflicts(set).filter((e) => !o.open || e.status === "open");
          if (o.json) process.stdout.write(JSON.stringify(entries) + "\n");
          else {
            const open = entries.filter((e) => e.status === "open").length;
            process.stdout.write([`${entries.length} conflict(s), ${open} open`, ...entries.map(line)].join("\n") + "\n");
          }
        } finally {
          set.close();
        }
      }),
    );
}
