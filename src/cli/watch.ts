/** `intermezzo watch DIR`: journal the changes of a file set as they are observed (no FUSE needed). */
import type { Command } from "commander";
import { FileSet } from "../journal/fileset.js";
import { watchFileSet } from "../filter/watcher.js";
import { formatError, runAction } from "./exit.js";

/** Registers `watch`. */
export function register(program: Command): void {
  program
    .command("watch")
    .description("watch a file set and journal its changes as they happen (the scanner runs on each batch of events)")
    .argument("<dir>", "a file set")
    .option("--debounce <ms>", "quiet time before a batch of changes is journaled", "15")
    .action((dir: string, o: { debounce: string }) =>
      runAction("intermezzo", async () => {
        const set = FileSet.open(dir);
        try {
          const w = await watchFileSet(set, {
            debounceMs: Number(o.debounce),
            onScan: (r) => {
              if (r.records > 0) process.stdout.write(`${r.records} record(s) journaled\n`);
            },
            onError: (err) => process.stderr.write(formatError("intermezzo", err) + "\n"),
          });
          process.stdout.write(`watching ${set.root}\n`);
          await new Promise<void>((resolve) => process.once("SIGINT", resolve).once("SIGTERM", resolve));
          await w.close();
        } finally {
          set.close();
        }
      }),
    );
}
