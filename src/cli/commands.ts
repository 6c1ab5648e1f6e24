/** The list of `intermezzo` verbs; each module exports one `register(program)` function. */
import type { Command } from "commander";
import { register as delta } from "./delta.js";
import { register as demo } from "./demo.js";
import { register as init } from "./init.js";
import { register as log } from "./log.js";
import { register as mount } from "./mount.js";
import { register as scan } from "./scan.js";
import { register as serve } from "./serve.js";
import { register as umount } from "./umount.js";
import { register as watch } from "./watch.js";

/** Adds one verb to the program. */
export type RegisterCommand = (program: Command) => void;

/** Every verb of `intermezzo`, in help order. */
export const COMMANDS: RegisterCommand[] = [
  init,
  scan,
  log,
  serve,
  mount,
  umount,
  watch,
  delta,
  demo,
];
