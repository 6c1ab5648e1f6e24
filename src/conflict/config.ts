/**
 * A file set's conflict settings, `.intermezzo/config.json` (never replicated): the default policy,
 * glob overrides, how many keep-both copies to leave beside a path, and the notification command.
 * Command-line options override them.
 */
import fs from "node:fs";
import path from "node:path";
import { Type, type Static, TypeCompiler, type TypeCheck } from "../schema.js";
import { ImzError } from "../errors.js";
import { META_DIR } from "../journal/fileset.js";
import { POLICIES, type PolicyRules } from "./policy.js";

/** The config file's name under `.intermezzo/`. */
export const CONFIG_FILE = "config.json";

const PolicyName = Type.Union(POLICIES.map((p) => Type.Literal(p)));
const ConfigSchema = Type.Object(
  {
    policy: Type.Optional(PolicyName),
    /** Glob → policy, gitignore syntax, later keys win. */
    overrides: Type.Optional(Type.Record(Type.String({ minLength: 1 }), PolicyName)),
    keepCopies: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    notifyCommand: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
/** Compiled on first use: most runs of a command have no config file to check. */
let checker: TypeCheck<typeof ConfigSchema> | undefined;
const checkConfig = (): TypeCheck<typeof ConfigSchema> => (checker ??= TypeCompiler.Compile(ConfigSchema));

/** The settings a file set's config may hold. */
export type ConflictConfig = Static<typeof ConfigSchema>;

/** Default number of keep-both copies beside one path. */
export const DEFAULT_KEEP_COPIES = 5;

/** Reads `root/.intermezzo/config.json` ({} when absent); throws `CONFIG_INVALID` naming the problem. */
export function readConfig(root: string): ConflictConfig {
  const file = path.join(root, META_DIR, CONFIG_FILE);
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new ImzError("CONFIG_INVALID", `${file} is not valid JSON: ${(err as Error).message}`, { hint: "fix or remove the file" });
  }
  if (checkConfig().Check(value)) return value;
  const e = checkConfig().Errors(value).First();
  throw new ImzError("CONFIG_INVALID", `${file}: ${e ? `${e.path || "/"} ${e.message}` : "bad shape"}`, {
    hint: `policy is one of ${POLICIES.join(", ")}; overrides maps globs to policies; keepCopies is a count`,
  });
}

/** The policy rules a config sets, over `fallback` (the mode's default policy). */
export function configRules(config: ConflictConfig, fallback: PolicyRules["default"]): PolicyRules {
  return {
    default: config.policy ?? fallback,
    overrides: Object.entries(config.overrides ?? {}).map(([glob, policy]) => ({ glob, policy })),
  };
}
