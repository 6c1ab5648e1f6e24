/**
 * A diagnostic trace. With `IMZ_TRACE=FILE` in the environment, each process appends one JSON line
 * per traced event to FILE: records journaled, dropped, remapped, accepted and applied, Fsdb rows
 * removed, conflicts refused and how they were settled. It is how one object's path through two
 * replicas and a holder is followed after a failed churn run (test/sync/churn.test.ts sets it).
 * Events inside a transaction later rolled back are traced too. Without the variable, a no-op.
 */
import fs from "node:fs";

const file = process.env["IMZ_TRACE"];

const tracing = file !== undefined && file !== "";

/**
 * Appends event `event` with the fields `fields()` gives — called only when tracing is on, so a
 * call on a hot path (every record applied or journaled) costs one check otherwise. `stack`: with
 * the six callers above (where a removal came from).
 */
export function trace(event: string, fields: () => Record<string, unknown>, stack = false): void {
  if (!tracing) return;
  const at = stack ? { at: (new Error().stack ?? "").split("\n").slice(2, 8).map((s) => s.trim().replace(/^at /, "")).join(" < ") } : {};
  fs.appendFileSync(file!, `${JSON.stringify({ t: new Date().toISOString().slice(11, 23), pid: process.pid, event, ...fields(), ...at })}\n`);
}

/** The fields of a record worth tracing: its content only as the start of its hash. */
export function brief(r: object): Record<string, unknown> {
  const { attrs: _a, content, extents: _e, time: _t, ...rest } = r as Record<string, unknown>;
  const hash = (content as { hash?: string } | undefined)?.hash;
  return hash === undefined ? rest : { ...rest, hash: hash.slice(0, 8) };
}
