/** `intermezzo scan DIR`: journal what changed in the tree since the last scan. */
import type { Command } from "commander";
import { scan } from "../filter/scanner.js";
import { FileSet } from "../journal/fileset.js";
import { withWriteLock } from "../journal/write-lock.js";
import { ExitCode, runAction } from "./exit.js";

/** Registers `scan`. */
export function register(program: Command): void {
  program
    .command("scan")
    .description("compare the tree with its Fsdb and journal creates, deletes, renames, content and attribute changes")
    .argument("<dir>", "a file set")
    .option("--json", "print the result as JSON", false)
    .option("--force", "journal a mass deletion anyway", false)
    .action((dir: string, o: { json: boolean; force: boolean }) =>
      runAction("intermezzo", async () => {
        const set = FileSet.open(dir);
        const release = set.lock("scan");
        try {
          const r = await withWriteLock(set, () => scan(set, { force: o.force }));
          if (o.json) process.stdout.write(JSON.stringify(r) + "\n");
          else {
            process.stdout.write(`${r.records} record(s) journaled, ${r.examined} object(s) examined, ${r.hashedBytes} byte(s) hashed\n`);
            for (const p of r.problems) process.stdout.write(`problem [${p.code}]: ${p.path}: ${p.message}\n`);
          }
          return r.problems.length > 0 ? ExitCode.PARTIAL : ExitCode.OK;
        } finally {
          release();
          set.close();
        }
      }),
    );
}
