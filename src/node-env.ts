/**
 * The environment of intermezzo's own processes and of the programs they start.
 *
 * Node reads the file named by `NODE_EXTRA_CA_CERTS` before it runs any JavaScript (about 30 ms of
 * CPU per start for a system CA bundle); intermezzo makes no TLS connection, so the launchers in
 * `bin/` start Node without it and keep its value in {@link SAVED_CA_CERTS}. A process puts it back
 * (`restoreUserEnv`) before it starts anything, so hooks, `ssh` and proxy commands see the user's
 * environment unchanged; only intermezzo's own Node children are started without it again.
 */

/** Where the launchers keep the user's `NODE_EXTRA_CA_CERTS` while Node starts without it. */
export const SAVED_CA_CERTS = "IMZ_NODE_EXTRA_CA_CERTS";

/** Puts the user's `NODE_EXTRA_CA_CERTS` back into `env`, if a launcher set it aside. */
export function restoreUserEnv(env: NodeJS.ProcessEnv = process.env): void {
  const saved = env[SAVED_CA_CERTS];
  if (saved === undefined) return;
  env.NODE_EXTRA_CA_CERTS = saved;
  delete env[SAVED_CA_CERTS];
}

/** The environment for one of intermezzo's own Node processes: `env` with `NODE_EXTRA_CA_CERTS` set aside. */
export function nodeChildEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const child = { ...env };
  if (child.NODE_EXTRA_CA_CERTS !== undefined) {
    child[SAVED_CA_CERTS] = child.NODE_EXTRA_CA_CERTS;
    delete child.NODE_EXTRA_CA_CERTS;
  }
  return child;
}
