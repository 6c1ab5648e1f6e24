/** The list of `intermezzo` verbs; each module exports one `register(program)` function. */
import type { Command } from "commander";
import { register as delta } from "./delta.js";

/** Adds one verb to the program. */
export type RegisterCommand = (program: Command) => void;

/** Every verb of `intermezzo`, in help order. */
export const COMMANDS: RegisterCommand[] = [
  delta,
];
