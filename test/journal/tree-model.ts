/**
 * Test helper: a pure in-memory file tree that replays journal records, and a recorder that turns
 * operations on such a tree into the records a filter would journal (fids, bases, seqs).
 *
 * Replay semantics (what the optimiser must preserve): a record applies only where it makes sense
 * (fresh fid, existing directory parent, free name, the object at the place the record names, empty
 * directory for rmdir, no move of a directory into itself); otherwise {@link applyRecords} throws a
 * {@link ModelError}. `create` sets its attrs, then its content (whose mtime wins); `close` sets size,
 * hash and mtime; `setattr` sets the fields it names. A `link` either copies its target's state at
 * link time ("copy") or shares one inode with it ("shared"); the optimiser must be right for both.
 */
import { ROOT_FID, type Attrs, type Content, type JournalRecord, type NewRecord } from "../../src/journal/records.js";

/** Object type: file, directory, symlink. */
export type NodeType = "f" | "d" | "l";

/** An object's state (shared between names under "shared" link semantics). */
export interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  size: number;
  hash: string;
  target: string | null;
}

/** One object: where it is and which inode holds its state. */
export interface TreeNode {
  fid: string;
  type: NodeType;
  parent: string | null;
  name: string;
  ino: number;
}

/** An immutable tree value. */
export interface Tree {
  readonly nodes: ReadonlyMap<string, Readonly<TreeNode>>;
  readonly inodes: ReadonlyMap<number, Readonly<Meta>>;
  /** Fids that existed and were removed (a fid is never reused). */
  readonly gone: ReadonlySet<string>;
}

/** How `link` records are replayed. */
export type LinkMode = "copy" | "shared";

/** A record that cannot apply to the tree. */
export class ModelError extends Error {
  constructor(
    message: string,
    readonly record: JournalRecord,
  ) {
    super(`${record.op} ${record.fid} (seq ${record.seq}): ${message}`);
  }
}

/** One line of {@link snapshot}: an object by path with everything a replay must reproduce. */
export interface SnapshotEntry extends Meta {
  path: string;
  fid: string;
  type: NodeType;
  /** Index of the first path (in path order) sharing this object's inode. */
  inode: number;
}

const ROOT_META: Meta = { mode: 0o755, uid: 0, gid: 0, mtimeNs: "0", size: 0, hash: "", target: null };
const DEFAULT_MODE: Record<NodeType, number> = { f: 0o644, d: 0o755, l: 0o777 };

/** A tree holding only the root directory. */
export function emptyTree(): Tree {
  return {
    nodes: new Map([[ROOT_FID, { fid: ROOT_FID, type: "d", parent: null, name: "", ino: 0 }]]),
    inodes: new Map([[0, ROOT_META]]),
    gone: new Set(),
  };
}

/** Replays `records` on `tree` (left untouched); throws {@link ModelError} at the first that cannot apply. */
export function applyRecords(tree: Tree, records: readonly JournalRecord[], links: LinkMode = "copy"): Tree {
  const m = new Model(tree, links);
  for (const r of records) m.apply(r);
  return m.tree();
}

/** The tree as a path-sorted list, for deep equality. */
export function snapshot(tree: Tree): SnapshotEntry[] {
  const m = new Model(tree, "copy");
  const rows = [...tree.nodes.values()].map((n) => ({ n, path: m.pathOf(n.fid) })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const inoIndex = new Map<number, number>();
  return rows.map(({ n, path }, i) => {
    if (!inoIndex.has(n.ino)) inoIndex.set(n.ino, i);
    return { path, fid: n.fid, type: n.type, ...tree.inodes.get(n.ino)!, inode: inoIndex.get(n.ino)! };
  });
}

/** Mutable working copy behind {@link applyRecords}; also used by {@link Recorder}. */
export class Model {
  readonly nodes: Map<string, TreeNode>;
  readonly inodes: Map<number, Meta>;
  readonly gone: Set<string>;
  private nextIno: number;

  constructor(tree: Tree, readonly links: LinkMode) {
    this.nodes = new Map([...tree.nodes].map(([k, v]) => [k, { ...v }]));
    this.inodes = new Map([...tree.inodes].map(([k, v]) => [k, { ...v }]));
    this.gone = new Set(tree.gone);
    this.nextIno = Math.max(0, ...this.inodes.keys()) + 1;
  }

  /** An immutable copy of the current state. */
  tree(): Tree {
    return new Model({ nodes: this.nodes, inodes: this.inodes, gone: this.gone }, this.links);
  }

  /** The object's path from the root ("" for the root). */
  pathOf(fid: string): string {
    const n = this.nodes.get(fid)!;
    return n.parent === null ? "" : `${this.pathOf(n.parent)}/${n.name}`;
  }

  /** The child of directory `parent` called `name`. */
  child(parent: string, name: string): TreeNode | undefined {
    for (const n of this.nodes.values()) if (n.parent === parent && n.name === name) return n;
    return undefined;
  }

  /** The children of directory `fid`. */
  children(fid: string): TreeNode[] {
    return [...this.nodes.values()].filter((n) => n.parent === fid);
  }

  /** The state of object `fid`. */
  meta(fid: string): Meta {
    return this.inodes.get(this.nodes.get(fid)!.ino)!;
  }

  /** True when `fid` is `ancestor` or lies below it. */
  isWithin(fid: string, ancestor: string): boolean {
    for (let f: string | null = fid; f !== null; f = this.nodes.get(f)!.parent) if (f === ancestor) return true;
    return false;
  }

  /** Applies one record; throws {@link ModelError} when it cannot. */
  apply(r: JournalRecord): void {
    const fail = (msg: string): never => {
      throw new ModelError(msg, r);
    };
    const existing = (fid: string): TreeNode => this.nodes.get(fid) ?? fail(`no object ${fid}`);
    const dir = (fid: string): TreeNode => (existing(fid).type === "d" ? this.nodes.get(fid)! : fail(`${fid} is not a directory`));
    const placed = (fid: string, parent: string, name: string): TreeNode => {
      const n = existing(fid);
      if (n.parent !== parent || n.name !== name) fail(`${fid} is not at ${parent}/${name}`);
      return n;
    };
    const birth = (type: NodeType, ino: number): void => {
      if (r.op !== "create" && r.op !== "mkdir" && r.op !== "symlink" && r.op !== "link") return;
      if (this.nodes.has(r.fid) || this.gone.has(r.fid)) fail("fid already used");
      dir(r.parent);
      if (this.child(r.parent, r.name)) fail(`name ${r.name} taken`);
      this.nodes.set(r.fid, { fid: r.fid, type, parent: r.parent, name: r.name, ino });
    };
    const fresh = (type: NodeType, attrs: Attrs, target: string | null = null): number => {
      const ino = this.nextIno++;
      const meta = { ...ROOT_META, mode: DEFAULT_MODE[type], target };
      this.inodes.set(ino, setAttrs(meta, attrs));
      return ino;
    };
    const remove = (n: TreeNode): void => {
      this.nodes.delete(n.fid);
      this.gone.add(n.fid);
    };
    switch (r.op) {
      case "create": {
        const ino = fresh("f", r.attrs);
        if (r.content) setContent(this.inodes.get(ino)!, r.content);
        return birth("f", ino);
      }
      case "mkdir":
        return birth("d", fresh("d", r.attrs));
      case "symlink":
        return birth("l", fresh("l", r.attrs, r.target));
      case "link": {
        const t = existing(r.target);
        if (t.type !== "f") fail("link target is not a file");
        let ino = t.ino;
        if (this.links === "copy") this.inodes.set((ino = this.nextIno++), { ...this.inodes.get(t.ino)! });
        return birth("f", ino);
      }
      case "unlink": {
        const n = placed(r.fid, r.parent, r.name);
        if (n.type === "d") fail("unlink of a directory");
        return remove(n);
      }
      case "rmdir": {
        const n = placed(r.fid, r.parent, r.name);
        if (n.type !== "d" || r.fid === ROOT_FID) fail("rmdir of a non-directory or the root");
        if (this.children(r.fid).length > 0) fail("rmdir of a non-empty directory");
        return remove(n);
      }
      case "rename":
        return this.rename(r, placed(r.fid, r.parent, r.name), dir(r.newParent), fail);
      case "setattr":
        setAttrs(this.meta(existing(r.fid).fid), r.attrs);
        return;
      case "close":
        if (existing(r.fid).type !== "f") fail("close of a non-file");
        setContent(this.meta(r.fid), r.content);
        return;
    }
  }

  private rename(r: Extract<JournalRecord, { op: "rename" }>, n: TreeNode, to: TreeNode, fail: (m: string) => never): void {
    if (n.fid === ROOT_FID || this.isWithin(to.fid, n.fid)) fail("move of a directory into itself");
    const occ = this.child(to.fid, r.newName);
    if (occ?.fid === n.fid) return;
    if (occ === undefined && r.replaced !== undefined) fail(`replaced ${r.replaced} is not there`);
    if (occ !== undefined) {
      if (occ.fid !== r.replaced) fail(`name ${r.newName} taken by ${occ.fid}, record says ${r.replaced ?? "nothing"}`);
      if ((occ.type === "d") !== (n.type === "d")) fail("rename between a directory and a non-directory");
      if (occ.type === "d" && this.children(occ.fid).length > 0) fail("rename over a non-empty directory");
      this.nodes.delete(occ.fid);
      this.gone.add(occ.fid);
    }
    n.parent = to.fid;
    n.name = r.newName;
  }
}

function setAttrs(m: Meta, a: Attrs): Meta {
  if (a.mode !== undefined) m.mode = a.mode;
  if (a.uid !== undefined) m.uid = a.uid;
  if (a.gid !== undefined) m.gid = a.gid;
  if (a.mtimeNs !== undefined) m.mtimeNs = a.mtimeNs;
  return m;
}

function setContent(m: Meta, c: Content): void {
  m.size = c.size;
  m.hash = c.hash;
  m.mtimeNs = c.mtimeNs;
}

/**
 * Builds a plausible CML while it changes a {@link Model}: new fids `<replica>:<n>`, bases from the
 * versions of pre-existing objects ("" for objects made here), seqs from `firstSeq` on.
 */
export class Recorder {
  readonly records: JournalRecord[] = [];
  private counter = 0;

  constructor(
    readonly model: Model,
    private readonly versions: ReadonlyMap<string, string>,
    private readonly replica = "c1",
    private seq = 1,
  ) {}

  /** A fid never used before. */
  newFid(): string {
    return `${this.replica}:${++this.counter}`;
  }

  /** The base version of `fid`. */
  base(fid: string): string {
    return this.versions.get(fid) ?? "";
  }

  /** Journals `rec` (applying it to the model; a recorder bug throws). */
  emit(rec: NewRecord): JournalRecord {
    const seq = this.seq++;
    const stored = { ...rec, seq, origin: this.replica, originSeq: seq } as JournalRecord;
    this.model.apply(stored);
    this.records.push(stored);
    return stored;
  }
}
