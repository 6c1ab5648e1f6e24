/**
 * What `bin/intermezzo` and `bin/intermezzo-sync` run once Node has started, for help and the verbs
 * that load little: the user's environment put back (`node-env.ts`), then the program's ESM bundle,
 * which loads only the chunks of what runs. A sync (and `serve --stdio`) runs the code-cached
 * CommonJS bundle instead, through `launch-cached.ts`.
 */
import { restoreUserEnv } from "../node-env.js";

/** The two programs `bin/` starts. */
export type Program = "intermezzo" | "intermezzo-sync";

/** What each program's bundles export. */
export interface Entry {
  main(argv: string[]): Promise<void>;
}

/** Runs `program`'s `main` on `process.argv` from its ESM bundle. */
export async function launch(program: Program): Promise<void> {
  restoreUserEnv();
  const { main } = (await import(`../bin/${program}.js`)) as Entry;
  await main(process.argv);
}
