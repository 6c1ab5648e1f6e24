/**
 * CML optimisation, as Coda does it: before a CML is shipped, records that cancel or supersede each
 * other are removed or folded together, so reintegration costs follow the net change.
 *
 * Contract: replaying the optimised list on any tree on which the raw list replays gives the same
 * tree (names, types, content, attributes, symlink targets). Every rule below is local to one object
 * (or one inode) and conservative; anything it cannot prove harmless is left alone. A `link` shares
 * one inode between its names, as the Applier replays it (`link(2)`, and every later content change
 * re-linked to all names), so content is per inode: {@link lastContentPerInode}. Otherwise an object
 * that appears in a `link` record (as the new name or as its target) keeps its closes and setattrs.
 *
 * Content is shippable: every content record left states content the replica still has at
 * reintegration — the final content of its inode, at its own fid or, for a removed name, at another
 * name of the inode (found by hash). An intermediate version is never asked for; it is gone.
 *
 * Identity: an output record carries the `seq`/`originSeq`/`origin`/`time` of the last input record
 * (in list order) it absorbed, so the server recognises a retried reintegration of an unchanged CML
 * and never mistakes a changed one for a retry. The function is pure: no I/O, no clock.
 */
import type { Attrs, JournalRecord, RecordOf } from "./records.js";
import { sameXattrs } from "./xattrs.js";
import { parentsOf } from "./records.js";

/** Result of {@link optimise}. */
export interface Optimised {
  /** The records to ship, in replay order. */
  records: JournalRecord[];
  /** `seq` of every input record that no longer appears in `records` (input order). */
  dropped: number[];
}

/** A record on its way through the rules; `pos` is the input index of the record whose stamp it carries. */
interface Entry {
  readonly rec: JournalRecord;
  readonly pos: number;
}

/** One rule: returns its argument unchanged (same array) when it has nothing to do. */
type Rule = (entries: readonly Entry[], linkedBefore: ReadonlySet<string>) => readonly Entry[];

type Birth = RecordOf<"create" | "mkdir" | "symlink" | "mknod" | "link">;
type Edit = RecordOf<"close" | "setattr">;

const ATTR_FIELDS = ["mode", "uid", "gid", "mtimeNs", "xattrs"] as const;

/**
 * Optimises a CML. Rules, applied until none changes anything (so the result is a fixed point and
 * `optimise(optimise(x).records)` returns its input):
 * {@link cancelCreateDelete}, {@link dropEditsOfDeleted}, {@link keepLastClose}, {@link foldSetattrs},
 * {@link foldCloseIntoCreate}, {@link foldSetattrIntoBirth}, {@link foldRenames}, {@link lastContentPerInode}.
 * The output never has more records than the input; `seq`s in the input must be distinct.
 *
 * `linkedBefore`: fids that records before `records` (an earlier window of the same CML) joined by
 * `link` to other names. They are treated as link-involved here too, and their inode as living on
 * when they are removed: a close of such a name, then its removal, still changed the other names.
 */
export function optimise(records: readonly JournalRecord[], linkedBefore: ReadonlySet<string> = new Set()): Optimised {
  if (birthsOnly(records)) return { records: [...records], dropped: [] };
  let entries: readonly Entry[] = records.map((rec, pos) => ({ rec, pos }));
  for (let changed = true; changed; ) {
    changed = false;
    for (const rule of RULES) {
      const next = rule(entries, linkedBefore);
      if (next !== entries) {
        entries = next;
        changed = true;
      }
    }
  }
  const out = entries.map((e) => e.rec);
  const kept = new Set(out.map((r) => r.seq));
  return { records: out, dropped: records.filter((r) => !kept.has(r.seq)).map((r) => r.seq) };
}

/**
 * A birth (create/mkdir/symlink/link) of X and a later removal of X (unlink, rmdir, or a rename
 * over it) cancel: every record about X goes, and a surviving rename over X forgets it replaced X.
 * Not when a surviving record still needs X: as a parent (a child moved out of a new directory),
 * as a link target, or when a rename of X itself replaced a surviving object. A `link`-born object
 * with closes or setattrs is kept too (with a shared inode they changed its target).
 */
function cancelCreateDelete(entries: readonly Entry[]): readonly Entry[] {
  const born = new Map<string, Birth>();
  const dead = deaths(entries);
  const edited = new Set(entries.filter((e) => isEdit(e.rec)).map((e) => e.rec.fid));
  for (const { rec } of entries) if (isBirth(rec)) born.set(rec.fid, rec);
  const doomed = new Set([...born.values()].filter((b) => dead.has(b.fid) && !(b.op === "link" && edited.has(b.fid))).map((b) => b.fid));
  for (let changed = true; changed && doomed.size > 0; ) {
    changed = false;
    for (const { rec } of entries) for (const f of keptAlive(rec, doomed)) changed = doomed.delete(f) || changed;
  }
  if (doomed.size === 0) return entries;
  return entries.filter((e) => !doomed.has(e.rec.fid)).map((e) => forgetReplaced(e, doomed));
}

/** The doomed fids that `rec` keeps from being cancelled. */
function keptAlive(rec: JournalRecord, doomed: ReadonlySet<string>): string[] {
  if (doomed.has(rec.fid)) return rec.op === "rename" && rec.replaced !== undefined && !doomed.has(rec.replaced) ? [rec.fid] : [];
  const refs = rec.op === "link" ? [...parentsOf(rec), rec.target] : parentsOf(rec);
  return refs.filter((f) => doomed.has(f));
}

function forgetReplaced(e: Entry, doomed: ReadonlySet<string>): Entry {
  if (e.rec.op !== "rename" || e.rec.replaced === undefined || !doomed.has(e.rec.replaced)) return e;
  const { replaced: _r, replacedBase: _b, ...rest } = e.rec;
  return { rec: rest, pos: e.pos };
}

/**
 * An object removed in this CML (pre-existing or not) needs no content or attributes: its closes
 * and setattrs before the removal go. The removal keeps its own base.
 */
function dropEditsOfDeleted(entries: readonly Entry[], linkedBefore: ReadonlySet<string>): readonly Entry[] {
  const dead = deaths(entries);
  const linked = linkInvolved(entries, linkedBefore);
  const out = entries.filter((e) => !(isEdit(e.rec) && dead.has(e.rec.fid) && !linked.has(e.rec.fid)));
  return out.length === entries.length ? entries : out;
}

/**
 * Closes of X: only the last counts (a close states the whole content); it takes the first's base.
 * Its written extents count from its own base (the filter keeps them since the version), so they
 * stay only when every close of the group had that base.
 */
function keepLastClose(entries: readonly Entry[], linkedBefore: ReadonlySet<string>): readonly Entry[] {
  const swaps = new Map<Entry, Entry | null>();
  for (const group of editsByFid(entries, "close", linkedBefore).values()) {
    if (group.length < 2) continue;
    const last = group[group.length - 1]!;
    const first = group[0]!.rec as RecordOf<"close">;
    group.forEach((e) => swaps.set(e, null));
    const { extents, ...rest } = last.rec as RecordOf<"close">;
    const sameBase = group.every((e) => (e.rec as RecordOf<"close">).base === first.base);
    swaps.set(last, absorb({ ...rest, base: first.base, ...(extents && sameBase ? { extents } : {}) }, group));
  }
  return applySwaps(entries, swaps);
}

/**
 * Setattrs of X fold into one at the position of the last (later fields win). A close also sets
 * the mtime, so a setattr's `mtimeNs` followed by a close of X is dropped; a setattr left empty goes.
 */
function foldSetattrs(entries: readonly Entry[], linkedBefore: ReadonlySet<string>): readonly Entry[] {
  const swaps = new Map<Entry, Entry | null>();
  const closes = editsByFid(entries, "close", linkedBefore);
  const index = new Map(entries.map((e, i) => [e, i]));
  for (const [fid, group] of editsByFid(entries, "setattr", linkedBefore)) {
    const lastClose = closes.get(fid)?.at(-1);
    const attrs: Attrs = {};
    for (const e of group) {
      const a = (e.rec as RecordOf<"setattr">).attrs;
      Object.assign(attrs, definedOnly(a));
      if (a.mtimeNs !== undefined && lastClose !== undefined && index.get(e)! < index.get(lastClose)!) delete attrs.mtimeNs;
    }
    const last = group[group.length - 1]!;
    const merged = canonicalAttrs(attrs);
    const empty = Object.keys(merged).length === 0;
    if (!empty && group.length === 1 && sameAttrs(merged, (last.rec as RecordOf<"setattr">).attrs)) continue;
    group.forEach((e) => swaps.set(e, null));
    if (empty) continue;
    const base = (group[0]!.rec as RecordOf<"setattr">).base;
    swaps.set(last, absorb({ ...(last.rec as RecordOf<"setattr">), base, attrs: merged }, group));
  }
  return applySwaps(entries, swaps);
}

/**
 * A create of X followed by X's only close: the close's content goes into the create, which keeps its
 * place. Not while a setattr of X setting the mtime sits between (the close's mtime must win).
 */
function foldCloseIntoCreate(entries: readonly Entry[], linkedBefore: ReadonlySet<string>): readonly Entry[] {
  const swaps = new Map<Entry, Entry | null>();
  const closes = editsByFid(entries, "close", linkedBefore);
  const setattrs = editsByFid(entries, "setattr", linkedBefore);
  const linked = linkInvolved(entries, linkedBefore);
  const index = new Map(entries.map((e, i) => [e, i]));
  entries.forEach((c, i) => {
    if (c.rec.op !== "create" || linked.has(c.rec.fid)) return;
    const group = closes.get(c.rec.fid);
    if (group?.length !== 1) return;
    const close = group[0]!;
    const end = index.get(close)!;
    const mtimeBetween = (setattrs.get(c.rec.fid) ?? []).some((e) => index.get(e)! > i && index.get(e)! < end && (e.rec as RecordOf<"setattr">).attrs.mtimeNs !== undefined);
    if (mtimeBetween) return;
    swaps.set(close, null);
    swaps.set(c, absorb({ ...c.rec, content: (close.rec as RecordOf<"close">).content }, [c, close]));
  });
  return applySwaps(entries, swaps);
}

/**
 * A create/mkdir/symlink of X and X's only setattr: the setattr's fields go into the birth's attrs.
 * An mtime folds only when no content (folded or by a close) would overwrite it at replay; a setattr
 * that cannot fold whole stays as it is.
 */
function foldSetattrIntoBirth(entries: readonly Entry[], linkedBefore: ReadonlySet<string>): readonly Entry[] {
  const swaps = new Map<Entry, Entry | null>();
  const setattrs = editsByFid(entries, "setattr", linkedBefore);
  const closes = editsByFid(entries, "close", linkedBefore);
  const linked = linkInvolved(entries, linkedBefore);
  for (const b of entries) {
    const rec = b.rec;
    if ((rec.op !== "create" && rec.op !== "mkdir" && rec.op !== "symlink" && rec.op !== "mknod") || linked.has(rec.fid)) continue;
    const group = setattrs.get(rec.fid);
    if (group?.length !== 1) continue;
    const s = group[0]!;
    const attrs = (s.rec as RecordOf<"setattr">).attrs;
    const contentLater = rec.op === "create" && (rec.content !== undefined || closes.has(rec.fid));
    if (attrs.mtimeNs !== undefined && contentLater) continue;
    swaps.set(s, null);
    swaps.set(b, absorb({ ...rec, attrs: canonicalAttrs({ ...rec.attrs, ...definedOnly(attrs) }) }, [b, s]));
  }
  return applySwaps(entries, swaps);
}

/**
 * Adjacent renames of one object fold into one (first's source and base, last's destination and
 * replaced object); a fold that ends where it started drops both. Not when the first replaced an
 * object (the fold would leave it in place), nor when the second replaces the directory the first
 * moved it out of (that directory is empty only once the object has left it).
 */
function foldRenames(entries: readonly Entry[]): readonly Entry[] {
  const out: Entry[] = [];
  let changed = false;
  for (const e of entries) {
    const top = out[out.length - 1];
    const b = e.rec;
    const a = top?.rec;
    if (top === undefined || a?.op !== "rename" || b.op !== "rename" || a.fid !== b.fid || a.replaced !== undefined) {
      out.push(e);
      continue;
    }
    if (a.newParent !== b.parent || a.newName !== b.name || b.replaced === a.parent) {
      out.push(e);
      continue;
    }
    changed = true;
    out.pop();
    const merged: RecordOf<"rename"> = { ...b, parent: a.parent, name: a.name, base: a.base };
    const identity = merged.parent === merged.newParent && merged.name === merged.newName && merged.replaced === undefined;
    if (!identity) out.push(absorb(merged, [top, e]));
  }
  return changed ? out : entries;
}

/**
 * Content is per inode: of the content records (closes, creates with content) of one inode — names
 * joined by `link` records — only the last states what anyone will read; earlier closes go and an
 * earlier create keeps its place without content (it makes an empty file the later record fills).
 * When every name of the inode is removed in this CML (and none was linked before it), no content record keeps its content: nothing
 * reads it, and the replica no longer has it to send (git's `index.lock` renamed over `index` on
 * every commit, each lock then renamed over by the next one).
 */
function lastContentPerInode(entries: readonly Entry[], linkedBefore: ReadonlySet<string>): readonly Entry[] {
  const inode = inodesOf(entries);
  const dead = deaths(entries);
  const live = new Set<string>();
  const last = new Map<string, Entry>();
  for (const e of entries) {
    for (const f of [e.rec.fid, ...(e.rec.op === "link" ? [e.rec.target] : [])]) if (!dead.has(f) || linkedBefore.has(f)) live.add(inode(f));
    if (hasContent(e.rec)) last.set(inode(e.rec.fid), e);
  }
  const swaps = new Map<Entry, Entry | null>();
  for (const e of entries) {
    const r = e.rec;
    if (!hasContent(r) || (live.has(inode(r.fid)) && last.get(inode(r.fid)) === e)) continue;
    if (r.op === "close") swaps.set(e, null);
    else if (r.op === "create") {
      const { content: _c, ...bare } = r;
      swaps.set(e, { rec: bare, pos: e.pos });
    }
  }
  return applySwaps(entries, swaps);
}

function hasContent(r: JournalRecord): boolean {
  return r.op === "close" || (r.op === "create" && r.content !== undefined);
}

/** The inode of each fid: a representative fid of the names `link` records join (union-find). */
function inodesOf(entries: readonly Entry[]): (fid: string) => string {
  const up = new Map<string, string>();
  const find = (f: string): string => {
    let root = f;
    while (up.has(root)) root = up.get(root)!;
    if (root !== f) up.set(f, root);
    return root;
  };
  for (const { rec } of entries) {
    if (rec.op !== "link") continue;
    const [a, b] = [find(rec.fid), find(rec.target)];
    if (a !== b) up.set(a, b);
  }
  return find;
}

const RULES: readonly Rule[] = [
  cancelCreateDelete,
  dropEditsOfDeleted,
  keepLastClose,
  foldSetattrs,
  foldCloseIntoCreate,
  foldSetattrIntoBirth,
  foldRenames,
  lastContentPerInode,
];

/**
 * True for records that are all births other than `link`, each of its own object (a first copy's
 * CML): every rule needs a removal, an edit, a rename or a link to change anything, so the list is
 * its own fixed point (the rules cost about 8 µs a record on such a window).
 */
function birthsOnly(records: readonly JournalRecord[]): boolean {
  const fids = new Set<string>();
  for (const r of records) {
    if (!isBirth(r) || r.op === "link" || fids.has(r.fid)) return false;
    fids.add(r.fid);
  }
  return true;
}

function isBirth(r: JournalRecord): r is Birth {
  return r.op === "create" || r.op === "mkdir" || r.op === "symlink" || r.op === "mknod" || r.op === "link";
}

function isEdit(r: JournalRecord): r is Edit {
  return r.op === "close" || r.op === "setattr";
}

/** Fids removed by some record: unlink, rmdir, or the object a rename replaced. */
function deaths(entries: readonly Entry[]): Set<string> {
  const out = new Set<string>();
  for (const { rec } of entries) {
    if (rec.op === "unlink" || rec.op === "rmdir") out.add(rec.fid);
    else if (rec.op === "rename" && rec.replaced !== undefined) out.add(rec.replaced);
  }
  return out;
}

/** Fids named by a `link` record, as the new name or as its target, and those of `linkedBefore`. */
function linkInvolved(entries: readonly Entry[], linkedBefore: ReadonlySet<string>): Pick<ReadonlySet<string>, "has"> {
  const here = new Set<string>();
  for (const { rec } of entries) if (rec.op === "link") here.add(rec.fid).add(rec.target);
  // not a copy of linkedBefore: it grows with the CML's links, this runs several times per window
  return { has: (fid) => here.has(fid) || linkedBefore.has(fid) };
}

/** Closes or setattrs by fid, in list order, skipping link-involved objects. */
function editsByFid(entries: readonly Entry[], op: Edit["op"], linkedBefore: ReadonlySet<string>): Map<string, Entry[]> {
  const linked = linkInvolved(entries, linkedBefore);
  const out = new Map<string, Entry[]>();
  for (const e of entries) {
    if (e.rec.op !== op || linked.has(e.rec.fid)) continue;
    const group = out.get(e.rec.fid);
    if (group) group.push(e);
    else out.set(e.rec.fid, [e]);
  }
  return out;
}

/** `rec` stamped with the identity of the latest record among `from`. */
function absorb(rec: JournalRecord, from: readonly Entry[]): Entry {
  const latest = from.reduce((a, b) => (b.pos > a.pos ? b : a));
  const { seq, originSeq, origin, time } = latest.rec;
  return { rec: { ...rec, seq, originSeq, origin, time }, pos: latest.pos };
}

/** Replaces (or, for `null`, drops) the entries named in `swaps`. */
function applySwaps(entries: readonly Entry[], swaps: ReadonlyMap<Entry, Entry | null>): readonly Entry[] {
  if (swaps.size === 0) return entries;
  const out: Entry[] = [];
  for (const e of entries) {
    const s = swaps.has(e) ? swaps.get(e)! : e;
    if (s !== null) out.push(s);
  }
  return out;
}

function definedOnly(a: Attrs): Attrs {
  return Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined)) as Attrs;
}

/** Attrs with keys in one fixed order (so folded records compare equal however they were built). */
function canonicalAttrs(a: Attrs): Attrs {
  const out: Attrs = {};
  for (const k of ATTR_FIELDS) if (a[k] !== undefined) Object.assign(out, { [k]: a[k] });
  return out;
}

function sameAttrs(a: Attrs, b: Attrs): boolean {
  const same = (k: (typeof ATTR_FIELDS)[number]): boolean =>
    k === "xattrs" ? (a.xattrs === undefined) === (b.xattrs === undefined) && (a.xattrs === undefined || sameXattrs(a.xattrs, b.xattrs!)) : a[k] === b[k];
  return ATTR_FIELDS.every(same) && Object.keys(b).length === Object.keys(canonicalAttrs(b)).length;
}
