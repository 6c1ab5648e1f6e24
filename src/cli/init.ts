/** `intermezzo init DIR [--name NAME]`: make DIR the holder of a new file set. */
import type { Command } from "commander";
import { FileSet } from "../journal/fileset.js";
import { runAction } from "./exit.js";

/** Registers `init`. */
export function register(program: Command): void {
  program
    .command("init")
    .description("make DIR a file set (its holder); its files are journaled by the next scan")
    .argument("<dir>", "an existing directory")
    .option("--name <name>", "a name for the file set (default: the directory's name)")
    .action((dir: string, o: { name?: string }) =>
      runAction("intermezzo", async () => {
        const set = FileSet.init(dir, o.name !== undefined ? { name: o.name } : {});
        process.stdout.write(`initialised file set '${set.name}' (${set.filesetId}) at ${set.root}, replica ${set.replicaId}\n`);
        set.close();
      }),
    );
}
