/**
 * Permits (the paper's GetPermit), the holder's side: the right of one connected replica at a time to
 * update an object. A replica's Lento asks before its filter lets a program write to a file; the
 * holder takes the permit back from its current owner first — a `revoke` request, which that replica
 * answers once its filter has no writer of the object left and it has reintegrated what it journaled
 * — and grants it with the log's volume stamp then, so the new owner applies the old owner's last
 * version before the program's write goes ahead. Two connected replicas writing one file therefore
 * take turns instead of conflicting. Disconnected replicas work without permits; their updates are
 * checked at reintegration as always.
 *
 * Granularity: the object (a file), not its directory or the file set — permits exist to serialize
 * writers of one file, and a coarser permit would make two replicas working on different files of
 * one directory wait for each other. Name operations (create, rename, unlink) take no permit: each is
 * one atomic record, and their conflicts are found at reintegration.
 *
 * Who grants: a permit is only a permit if every replica asks the same table. The table lives in the
 * process serving the replica's connection, so one process per holding location grants them (the
 * first that needs to: `.intermezzo/permits.pid`); Lento's listener, which serves all its replicas
 * from one process, is that process. A connection served by another process is answered
 * `granted: false`, and its replica works as a disconnected one would.
 *
 * Invariants: a permit belongs to one replica's connection at a time and is void when it closes;
 * requests for one object are served in order; a revoke not answered within the deadline is taken
 * back anyway (the owner is treated as disconnected from then on).
 */
import fs from "node:fs";
import path from "node:path";
import { META_DIR } from "../journal/fileset.js";
import { multiRpc } from "./multi-rpc.js";

/** What `permit` answers: granted or not (another process grants them), and the log's stamp then. */
export interface PermitGrant {
  granted: boolean;
  volume: number;
}

/** A replica's connection as the permit table sees it. */
export interface PermitOwner {
  replica: string;
  /** Asks the replica to give back these objects' permits; resolves when it has. */
  revoke: (fids: string[]) => Promise<void>;
}

/** Options of the permit table. */
export interface PermitOptions {
  /** How long a revoke may take before the permit is taken anyway (ms, default 10 s). */
  timeoutMs?: number;
  log?: (line: string) => void;
}

/** Default deadline of a revoke (ms). */
export const REVOKE_TIMEOUT_MS = 10_000;

/** The permits of one holding location, granted by this process. */
class PermitTable {
  private readonly owner = new Map<string, PermitOwner>();
  /** The last request touching each object: the next one waits for it. */
  private readonly tail = new Map<string, Promise<unknown>>();

  constructor(
    readonly granter: boolean,
    private readonly opts: PermitOptions,
  ) {}

  /** Grants `fids` to `who`, revoking them from their owners first (all at once, one deadline). */
  async acquire(fids: string[], who: PermitOwner): Promise<void> {
    const wanted = [...new Set(fids)].sort();
    const before = wanted.map((f) => this.tail.get(f));
    const run = (async () => {
      await Promise.allSettled(before);
      const byOwner = new Map<PermitOwner, string[]>();
      for (const f of wanted) {
        const o = this.owner.get(f);
        if (o && o !== who) byOwner.set(o, [...(byOwner.get(o) ?? []), f]);
      }
      const timeoutMs = this.opts.timeoutMs ?? REVOKE_TIMEOUT_MS;
      const outcome = await multiRpc(new Map([...byOwner].map(([o, fs]) => [o, () => o.revoke(fs)] as const)), timeoutMs);
      for (const [o, result] of outcome) {
        if (result === "lapsed") this.opts.log?.(`replica ${o.replica} did not give back a permit within ${timeoutMs / 1000} s: taken from it`);
      }
      for (const f of wanted) this.owner.set(f, who);
    })();
    for (const f of wanted) this.tail.set(f, run);
    try {
      await run;
    } finally {
      for (const f of wanted) if (this.tail.get(f) === run) this.tail.delete(f);
    }
  }

  /**
   * The object `who` holds the permit of as `from` — its replica's own fid, asked before the object
   * was shipped — turned out to be the holder's `to` (adopted as identical at reintegration): the
   * permit is `to`'s from now on, so a request for `to` takes it back from `who` first. When another
   * owner already holds `to`, or a request for it is under way, that one stands and `who`'s claim is
   * void: its writer goes on as a disconnected replica's would, checked at reintegration.
   */
  adopted(from: string, to: string, who: PermitOwner): void {
    if (this.owner.get(from) !== who) return;
    this.owner.delete(from);
    if (!this.owner.has(to) && !this.tail.has(to)) this.owner.set(to, who);
  }

  /** Voids every permit `who` holds (its connection closed). */
  release(who: PermitOwner): void {
    for (const [f, o] of this.owner) if (o === who) this.owner.delete(f);
  }

  get idle(): boolean {
    return this.owner.size === 0 && this.tail.size === 0;
  }
}

const tables = new Map<string, { table: PermitTable; users: number; lockFile: string }>();

/** One connection's part in a permit table (see {@link joinPermits}). */
export interface PermitMembership {
  /** Grants `fids` to `who`, revoking them from their owners first (absent when another process grants permits). */
  acquire?: (fids: string[], who: PermitOwner) => Promise<void>;
  /** A permit `who` holds as `from` is the holder's `to` from now on (an adoption; absent as `acquire` is). */
  adopted?: (from: string, to: string, who: PermitOwner) => void;
  /** Leaves the table, voiding `who`'s permits. */
  leave: (who?: PermitOwner) => void;
}

/**
 * Joins the permit table of the holding location at `root` for one connection. Returns how to ask
 * for permits (`undefined` when another process grants them) and how to leave (voiding its permits).
 */
export function joinPermits(root: string, opts: PermitOptions = {}): PermitMembership {
  let entry = tables.get(root);
  if (!entry) {
    const lockFile = path.join(root, META_DIR, "permits.pid");
    tables.set(root, (entry = { table: new PermitTable(claimGranter(lockFile), opts), users: 0, lockFile }));
  }
  entry.users++;
  const mine = entry;
  let left = false;
  return {
    ...(mine.table.granter
      ? { acquire: (fids: string[], who: PermitOwner) => mine.table.acquire(fids, who), adopted: (from: string, to: string, who: PermitOwner) => mine.table.adopted(from, to, who) }
      : {}),
    leave: (who) => {
      if (left) return;
      left = true;
      if (who) mine.table.release(who);
      if (--mine.users > 0) return;
      tables.delete(root);
      if (mine.table.granter) fs.rmSync(mine.lockFile, { force: true });
    },
  };
}

/** Makes this process the one granting permits at `lockFile`, unless a live process already is. */
function claimGranter(lockFile: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: "wx", mode: 0o644 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") return false;
    }
    const text = fs.readFileSync(lockFile, "utf8").trim();
    if (text === "") return false; // being written by the process that just made it
    const pid = Number(text);
    if (pid === process.pid) return true;
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) return false;
    fs.rmSync(lockFile, { force: true }); // left by a process that died
  }
  return false;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
