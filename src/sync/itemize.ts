/**
 * The `--dry-run` listing: one line per change a sync would make, in the spirit of `rsync -i`.
 * `>` changes go from SRC to DEST, `<` from DEST to SRC.
 */
import type { FileSet } from "../journal/fileset.js";
import type { JournalRecord, LoggedRecord } from "../journal/records.js";
import { describePath } from "./client.js";

const VERB: Record<JournalRecord["op"], string> = {
  create: "create",
  mkdir: "mkdir",
  symlink: "symlink",
  mknod: "mknod",
  link: "hardlink",
  unlink: "delete",
  rmdir: "rmdir",
  rename: "rename",
  setattr: "attrs",
  close: "update",
};

function line(set: FileSet, dir: string, r: JournalRecord): string {
  const p = describePath(set, r);
  if (r.op === "rename") {
    const to = describePath(set, { ...r, op: "create", parent: r.newParent, name: r.newName, attrs: {} } as JournalRecord);
    return `${dir} ${VERB[r.op].padEnd(8)} ${p} -> ${to}`;
  }
  return `${dir} ${VERB[r.op].padEnd(8)} ${p}`;
}

/** Lists the replica's pending records and the holder's updates as itemized lines. */
export function itemize(set: FileSet, pending: JournalRecord[], updates: LoggedRecord[], replicaIsSrc: boolean): string[] {
  const out = replicaIsSrc ? ">" : "<";
  const back = replicaIsSrc ? "<" : ">";
  return [
    ...pending.map((r) => line(set, out, r)),
    ...updates.filter((l) => l.record.origin !== set.replicaId).map((l) => line(set, back, l.record)),
  ];
}
