/**
 * Conflict policies: the second pass over detected conflicts (Unison's recon/override split). Pure:
 * `(conflict, policy) → winner`, with no filesystem, network or clock. Which actions carry a winner
 * out is {@link planResolution} in `plan.ts`.
 */
import ignore from "ignore";
import { ImzError } from "../errors.js";
import type { FsObject } from "../journal/fsdb.js";
import type { JournalRecord } from "../journal/records.js";
import type { ConflictKind } from "./detect.js";

/** The automatic policies, and `manual` (the server's copy stays visible, the client's is parked). */
export const POLICIES = ["server", "client", "newer", "both", "manual"] as const;

/** One conflict policy. */
export type Policy = (typeof POLICIES)[number];

/** Which version a resolution keeps visible at the path: the holder's, the replica's, or both. */
export type Winner = "server" | "client" | "both";

/** A default policy with gitignore-style glob overrides; the last matching override wins. */
export interface PolicyRules {
  default: Policy;
  overrides: Array<{ glob: string; policy: Policy }>;
}

/** A conflict as the policy pass sees it. */
export interface ConflictCase {
  kind: ConflictKind;
  /** The replica's refused record. */
  record: JournalRecord;
  /** The holder's object at stake (the occupant of the name, or the record's own object); undefined when it has none. */
  server: FsObject | undefined;
  /** The replica's object the record is about; undefined when the replica deleted it. */
  local: FsObject | undefined;
}

/** What the policy pass decided for one conflict. */
export interface Resolution {
  policy: Policy;
  winner: Winner;
  /** `manual`: the client's version is parked, open until `intermezzo resolve`. */
  parked: boolean;
}

/** Parses a policy name, or throws `USAGE`. */
export function parsePolicy(name: string): Policy {
  if ((POLICIES as readonly string[]).includes(name)) return name as Policy;
  throw new ImzError("USAGE", `unknown conflict policy '${name}'`, { hint: `use one of ${POLICIES.join(", ")}` });
}

/**
 * Builds rules from `--policy` values: a bare name sets the default, `GLOB=NAME` adds an override
 * (e.g. `*.log=newer`). Later values win over earlier ones, and over `base` (the file set's config).
 */
export function parseRules(specs: string[], base: PolicyRules): PolicyRules {
  const rules: PolicyRules = { default: base.default, overrides: [...base.overrides] };
  for (const spec of specs) {
    const eq = spec.lastIndexOf("=");
    if (eq < 0) rules.default = parsePolicy(spec);
    else if (eq === 0) throw new ImzError("USAGE", `--policy '${spec}' has no pattern before '='`, { hint: "e.g. --policy '*.log=newer'" });
    else rules.overrides.push({ glob: spec.slice(0, eq), policy: parsePolicy(spec.slice(eq + 1)) });
  }
  return rules;
}

/** The policy for the object at `relPath` (relative to the file set root). */
export function policyFor(rules: PolicyRules, relPath: string): Policy {
  for (let i = rules.overrides.length - 1; i >= 0; i--) {
    const o = rules.overrides[i]!;
    if (relPath !== "" && ignore().add(o.glob).ignores(relPath)) return o.policy;
  }
  return rules.default;
}

/**
 * Who wins a conflict under `policy`. `newer` compares the two versions' times (ties to the server);
 * a deletion has no version to compare, so against an edit the edit is kept (nothing is lost).
 */
export function resolveConflict(c: ConflictCase, policy: Policy): Resolution {
  switch (policy) {
    case "server":
    case "client":
    case "both":
      return { policy, winner: policy, parked: false };
    case "manual":
      return { policy, winner: "server", parked: true };
    case "newer":
      return { policy, winner: newer(c), parked: false };
  }
}

function newer(c: ConflictCase): "server" | "client" {
  const clientDeletes = c.record.op === "unlink" || c.record.op === "rmdir";
  if (clientDeletes) return "server";
  if (!c.server) return "client";
  return BigInt(clientTimeNs(c)) > BigInt(c.server.mtimeNs) ? "client" : "server";
}

/** When the replica made its change: its content's mtime for an edit, else when it was journaled. */
function clientTimeNs(c: ConflictCase): string {
  const r = c.record;
  if ((r.op === "close" || r.op === "create") && r.content) return r.content.mtimeNs;
  if (c.local && (r.op === "setattr" || r.op === "mkdir" || r.op === "symlink" || r.op === "mknod")) return c.local.mtimeNs;
  return (BigInt(r.time) * 1_000_000n).toString();
}
