/**
 * CommonJS packages loaded on first use rather than at start-up: a local sync never loads ssh2,
 * and `--help` loads neither ssh2 nor better-sqlite3 (the bundles in `dist/bin/` keep them
 * external, and a static import of an external runs at start-up whether it is used or not).
 */
import { createRequire } from "node:module";

const load = createRequire(import.meta.url);

/** A getter that loads package `id` on its first call and returns the same exports after. */
export function onFirstUse<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= load(id) as T);
}
