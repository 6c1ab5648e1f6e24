/** `intermezzo resolve DIR PATH --keep server|client|both|FILE`: settle a parked or auto-resolved conflict. */
import type { Command } from "commander";
import { settleConflict, type KeepChoice } from "../conflict/settle.js";
import { FileSet } from "../journal/fileset.js";
import { runAction } from "./exit.js";

function choice(keep: string): KeepChoice {
  return keep === "server" || keep === "client" || keep === "both" ? { side: keep } : { file: keep };
}

/** Registers `resolve`. */
export function register(program: Command): void {
  program
    .command("resolve")
    .description("settle the conflict at PATH; the kept version replicates on the next sync")
    .argument("<dir>", "the file set that logged the conflict")
    .argument("<path>", "the conflict's path, relative to DIR")
    .requiredOption("--keep <which>", "server, client, both (the other beside it as a conflict copy), or a FILE whose content to keep")
    .option("--json", "print what was done as JSON", false)
    .action((dir: string, rel: string, o: { keep: string; json: boolean }) =>
      runAction("intermezzo", async () => {
        const set = FileSet.open(dir);
        const release = set.lock("resolve");
        try {
          const done = await settleConflict(set, rel.replace(/^\.\/+|\/+$/g, ""), choice(o.keep));
          if (o.json) process.stdout.write(JSON.stringify(done) + "\n");
          else {
            const what = done.wrote ? `wrote ${done.wrote}` : done.removed ? `removed ${done.removed}` : "the visible version stays";
            process.stdout.write(`resolved ${done.entry.kind} at ${done.entry.path}: kept ${done.entry.resolvedAs}; ${what}; ${done.journaled} change(s) journaled for the next sync\n`);
          }
        } finally {
          release();
          set.close();
        }
      }),
    );
}
