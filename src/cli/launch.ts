/**
 * What `bin/intermezzo` and `bin/intermezzo-sync` run once Node has started: the user's environment
 * put back (`node-env.ts`), then the program — as one CommonJS bundle compiled through V8's code
 * cache (`code-cache.ts`) for a run that loads most of it, or as the ESM bundle, which loads only
 * the chunks of what runs (help, and most verbs of `intermezzo`).
 */
import { restoreUserEnv } from "../node-env.js";

/** The two programs `bin/` starts. */
export type Program = "intermezzo" | "intermezzo-sync";

/** What each program's bundles export. */
interface Entry {
  main(argv: string[]): Promise<void>;
}

/** Runs `program`'s `main` on `process.argv`; `cached` picks the code-cached bundle. */
export async function launch(program: Program, cached: boolean): Promise<void> {
  restoreUserEnv();
  if (!cached) {
    const { main } = (await import(`../bin/${program}.js`)) as Entry;
    await main(process.argv);
    return;
  }
  const { loadWithCodeCache } = await import("./code-cache.js");
  const bundle = loadWithCodeCache<Entry>(new URL(`../bin/${program}.cjs`, import.meta.url));
  const started = Date.now();
  await bundle.exports.main(process.argv);
  bundle.save(Date.now() - started); // written when there was no usable cache (or a long run's): it then holds what this run compiled
}
