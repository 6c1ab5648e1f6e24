/**
 * `intermezzo`: the file set tool. Each verb lives in its own module under `src/cli/` and
 * registers itself on the program here.
 */
import { Command, CommanderError } from "commander";
import { ExitCode } from "./exit.js";
import { COMMANDS } from "./commands.js";

/** Builds the `intermezzo` program with every verb registered. */
export function buildProgram(): Command {
  const program = new Command("intermezzo")
    .description("InterMezzo file sets: journal, scan, serve, mount and replicate directory trees")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

/** Entry point used by `bin/intermezzo`. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
      return;
    }
    throw err;
  }
}
