/**
 * Carrying out a resolution: the actions, on the replica, that make a conflict's winner the state
 * of both sides. Pure: `(conflict, resolution) → actions`; `src/sync/resolution.ts` performs them.
 *
 * The replica's view: the holder refused one of its records. Either the replica gives in (its
 * records about the object are dropped and the holder's version is brought in), or it insists (the
 * record is rebased onto the holder's version and shipped again, the holder keeping what it
 * replaces), or it keeps both (its version moves aside to a conflict name as a new object and the
 * holder's version takes the name). A version about to be destroyed on the replica is kept under
 * `.intermezzo/conflicts/` by the executor first; the holder does the same for what it replaces.
 */
import type { ConflictCase, Resolution } from "./policy.js";

/** One step of a resolution, performed in order on the replica. */
export type Action =
  /** Forget the replica's pending records about `fid` (its change lost). */
  | { do: "drop"; fid: string }
  /** Remove the replica's object `fid` from its tree (kept under conflicts/ first). */
  | { do: "discard"; fid: string }
  /** After update notification, make the replica's `fid` what the holder has now (or remove it). */
  | { do: "restore"; fid: string }
  /** Base the refused record on the holder's current version (and, for a rename, its current place) and ship it again. */
  | { do: "rebase"; seq: number }
  /** Ship a removal of the holder's object at the name (the holder keeps it), then the refused record again. */
  | { do: "evict"; seq: number }
  /** Move the replica's object to a conflict name beside the original, as a new object. */
  | { do: "aside"; fid: string }
  /** Give object `fid`, which the holder deleted, a new fid and create it on the holder again. */
  | { do: "revive"; fid: string };

/** The kinds where the replica's record removed something (a deletion has no version to keep). */
const CLIENT_DELETES = new Set(["delete/update", "delete/create-inside"]);
/** The kinds where the holder no longer has the replica's object. */
const SERVER_DELETED = new Set(["update/delete", "rename/delete"]);
/** The kinds where the two changes touch different aspects and can both stand (a merge). */
const MERGEABLE = new Set(["rename/update", "attr/update"]);

/**
 * The actions that carry out `res` for conflict `c`. Where a policy cannot apply as named, the
 * nearest choice that loses nothing is taken (each case is listed in docs/DESIGN.md):
 * - a client's directory removal never removes entries it never saw (`delete/create-inside` keeps the server's);
 * - two directories each moved into the other on one side (`rename/cycle`) keep the server's move;
 * - keeping "both" of a deletion and an edit keeps the edit; of two renames, the holder's name;
 * - a client that wins a name held by a non-empty directory, or whose losing object is a directory
 *   (it cannot be kept as one version), keeps both instead.
 */
export function planResolution(c: ConflictCase, res: Resolution): Action[] {
  const r = c.record;
  const fid = r.fid;
  const winner = effectiveWinner(c, res);
  const placement = r.op === "create" || r.op === "mkdir" || r.op === "symlink" || r.op === "mknod" || r.op === "link";
  if (c.kind === "create/delete-parent") {
    const dir = r.op === "rename" ? r.newParent : placement ? r.parent : fid;
    if (winner !== "server") return [{ do: "revive", fid: dir }];
    return placement ? [{ do: "drop", fid }, { do: "discard", fid }] : [{ do: "drop", fid }, { do: "restore", fid }];
  }
  if (c.kind === "create/create" || c.kind === "type-change") {
    const occupant = c.server?.fid;
    const restoreOccupant: Action[] = occupant ? [{ do: "restore", fid: occupant }] : [];
    if (winner === "client") return [{ do: "evict", seq: r.seq }, ...restoreOccupant];
    if (winner === "both") return [{ do: "aside", fid }, ...restoreOccupant];
    return placement ? [{ do: "drop", fid }, { do: "discard", fid }, ...restoreOccupant] : [{ do: "drop", fid }, { do: "restore", fid }, ...restoreOccupant];
  }
  if (SERVER_DELETED.has(c.kind)) {
    return winner === "server" ? [{ do: "drop", fid }, { do: "discard", fid }] : [{ do: "revive", fid }];
  }
  // update/update, delete/update, delete/create-inside, rename/rename, rename/cycle, rename/update, attr/update
  switch (winner) {
    case "client":
      return [{ do: "rebase", seq: r.seq }, { do: "restore", fid }];
    case "both":
      return [{ do: "aside", fid }, { do: "restore", fid }];
    case "server":
      return [{ do: "drop", fid }, { do: "restore", fid }];
  }
}

/** The winner after the substitutions {@link planResolution} documents. */
export function effectiveWinner(c: ConflictCase, res: Resolution): "server" | "client" | "both" {
  const w = res.winner;
  // the holder's move stands: the replica's cannot be applied without undoing it
  if (c.kind === "delete/create-inside" || c.kind === "rename/cycle") return "server";
  if (w !== "both") {
    if (w === "client" && (c.kind === "create/create" || c.kind === "type-change") && c.server?.type === "d") return "both";
    if (w === "server" && c.local?.type === "d" && (c.kind === "create/create" || c.kind === "type-change")) return "both";
    return w;
  }
  if (CLIENT_DELETES.has(c.kind) || c.kind === "rename/rename") return "server";
  if (SERVER_DELETED.has(c.kind) || c.kind === "create/delete-parent" || MERGEABLE.has(c.kind)) return "client";
  if (c.local?.type === "d" && c.kind !== "create/create" && c.kind !== "type-change") return "server";
  return "both";
}
