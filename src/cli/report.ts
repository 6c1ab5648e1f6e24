/** Printing a sync report: one JSON object with `--json`, else a few lines a person reads. */
import { displayPath } from "../journal/names.js";
import type { ConflictReport } from "../sync/client.js";
import type { SyncReport } from "../sync/sync.js";

/** Formats a byte count for people (1.5 MiB). */
export function human(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Writes the report to stdout. */
export function printReport(r: SyncReport, how: { json: boolean; src: string; dest: string }): void {
  if (how.json) {
    process.stdout.write(JSON.stringify({ src: how.src, dest: how.dest, ...r }) + "\n");
    return;
  }
  const out: string[] = [];
  if (r.itemized) {
    out.push(...r.itemized.map(displayPath));
    out.push(`dry run: ${r.itemized.length} change(s) would be made; nothing was changed`);
  } else {
    const [toDest, toSrc] = r.holder === "dest" ? ["sent", "received"] : ["received", "sent"];
    const sent = `${r.filesSent} file(s), ${human(r.bytesSent)}`;
    const recv = `${r.filesReceived} file(s), ${human(r.bytesReceived)}`;
    out.push(`${how.src} -> ${how.dest}: ${r.holder === "dest" ? r.recordsShipped : r.recordsApplied} change(s), data ${toDest === "sent" ? sent : recv}`);
    out.push(`${how.dest} -> ${how.src}: ${r.holder === "dest" ? r.recordsApplied : r.recordsShipped} change(s), data ${toSrc === "received" ? recv : sent}`);
    const took = `${(r.durationMs / 1000).toFixed(2)} s`;
    out.push(r.wire.sent + r.wire.received > 0 ? `wire: ${human(r.wire.sent)} sent, ${human(r.wire.received)} received in ${took}` : `done in ${took} (holder in this process)`);
  }
  const [replica, holder] = r.holder === "dest" ? [how.src, how.dest] : [how.dest, how.src];
  for (const c of r.conflicts) out.push(conflictLine(c, replica, holder));
  for (const p of r.problems) out.push(`problem [${p.code}]: ${displayPath(p.path)}: ${p.message}`);
  process.stdout.write(out.join("\n") + "\n");
}

/** A conflict's report line: what, where, and how its policy settled it. */
export function conflictLine(c: ConflictReport, replica: string, holder: string): string {
  return `conflict (${c.kind}): ${displayPath(c.path)}: ${c.detail}${settled(c, replica, holder)}`;
}

/** How the policy pass settled a conflict, for its report line. */
function settled(c: ConflictReport, replica: string, holder: string): string {
  if (!c.policy) return " (left pending)";
  const what =
    c.status === "open"
      ? `${holder}'s version stays; ${replica}'s is parked for \`intermezzo resolve\``
      : c.winner === "both"
        ? `kept both${c.aside ? `, ${replica}'s as ${displayPath(c.aside)}` : ""}`
        : c.winner === "client"
          ? `${replica}'s version won (${holder} keeps the other under .intermezzo/conflicts/)`
          : `${holder}'s version won`;
  return ` -> ${what} [policy ${c.policy}]${c.stored ? `; ${replica}'s kept as ${c.stored}` : ""}`;
}
