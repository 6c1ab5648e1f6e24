/**
 * `intermezzo`: the file set tool. Each verb lives in its own module under `src/cli/` and
 * registers itself on the program here.
 */
import { Command } from "commander";
import { parseCli } from "./exit.js";
import { COMMANDS } from "./commands.js";

/**
 * Builds the `intermezzo` program: with a known `verb`, only that verb's module is loaded;
 * otherwise (help, a typo) every verb is registered.
 */
export async function buildProgram(verb?: string): Promise<Command> {
  const program = new Command("intermezzo")
    .description("InterMezzo file sets: journal, scan, serve, mount and replicate directory trees")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  const loaders = verb !== undefined && Object.hasOwn(COMMANDS, verb) ? [COMMANDS[verb]!] : Object.values(COMMANDS);
  for (const load of loaders) (await load()).register(program);
  return program;
}

/** Entry point used by `bin/intermezzo`. */
export async function main(argv: string[]): Promise<void> {
  await parseCli(await buildProgram(argv[2]), argv);
}
