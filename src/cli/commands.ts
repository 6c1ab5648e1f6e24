/**
 * The `intermezzo` verbs. Each module exports one `register(program)` function; modules are loaded
 * only when their verb runs (or for `--help`), so a `serve --stdio` child does not pay for FUSE or
 * ssh2.
 */
import type { Command } from "commander";

/** Adds one verb to the program. */
export type RegisterCommand = (program: Command) => void;

/** A verb's module. */
export type CommandModule = () => Promise<{ register: RegisterCommand }>;

/** Every verb of `intermezzo`, in help order. */
export const COMMANDS: Record<string, CommandModule> = {
  init: () => import("./init.js"),
  scan: () => import("./scan.js"),
  log: () => import("./log.js"),
  status: () => import("./status.js"),
  serve: () => import("./serve.js"),
  mount: () => import("./mount.js"),
  umount: () => import("./umount.js"),
  watch: () => import("./watch.js"),
  replicate: () => import("./replicate.js"),
  conflicts: () => import("./conflicts.js"),
  resolve: () => import("./resolve.js"),
  delta: () => import("./delta.js"),
  demo: () => import("./demo.js"),
};
