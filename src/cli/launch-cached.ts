/**
 * What `bin/intermezzo-sync` (a sync) and `bin/intermezzo` (`serve --stdio`, the holder side of every
 * stdio or SSH sync) run once Node has started: the user's environment put back (`node-env.ts`), then
 * the program as one CommonJS bundle compiled through V8's code cache (`code-cache.ts`). The build
 * bundles this module as CommonJS too (`dist/bin/launch-cached.cjs`), and the launchers are CommonJS
 * (`bin/package.json`), so such a run never starts Node's ES module loader: about 8 ms of CPU per
 * run (an empty sync: 90 → 82 ms; `node -e 0` 24 ms).
 */
import { restoreUserEnv } from "../node-env.js";
import { loadWithCodeCache } from "./code-cache.js";
import type { Entry, Program } from "./launch.js";

/** Runs `program`'s `main` on `process.argv` from its code-cached CommonJS bundle, then saves the cache when it should. */
export async function launchCached(program: Program): Promise<void> {
  restoreUserEnv();
  const bundle = loadWithCodeCache<Entry>(new URL(`../bin/${program}.cjs`, import.meta.url));
  const started = Date.now();
  await bundle.exports.main(process.argv);
  bundle.save(Date.now() - started); // written when there was no usable cache (or a long run's): it then holds what this run compiled
}
