/**
 * Lento's side of Presto's upcalls (the paper's `upcall(inode, "get_data")` and its FetchFile
 * session): brings the data of a lazy replica's placeholder from the holder, with Lento's own,
 * unjournaled writes, and sets its `HAS_DATA` flag.
 *
 * Invariants:
 * - One connection to the holder serves every fetch in flight; it is opened on the first upcall
 *   and closed after {@link IDLE_MS} without one, so an idle mount keeps no connection (and no
 *   registration in use) on the holder; the holder serves it beside any number of syncs.
 * - A placeholder is replaced only by a complete, hash-checked temp file, and only while it is
 *   still the placeholder the Fsdb describes (`Applier`'s close path: renamed into place, hard
 *   links re-pointed, data durable before the flag).
 * - Presto makes one upcall per object however many opens wait on it; this class does not dedupe.
 */
import fs from "node:fs";
import { ImzError, isImzError } from "../errors.js";
import type { Upcall } from "../filter/presto.js";
import type { FileSet } from "../journal/fileset.js";
import { isPlaceholder, type FsObject } from "../journal/fsdb.js";
import type { JournalRecord } from "../journal/records.js";
import { Applier } from "./apply.js";
import type { StagedContent } from "./content-stream.js";
import { connectHolder } from "./connect.js";
import type { OpenRemoteOptions } from "../ssh/open-remote.js";
import { holderEndpoint, isLazy, recordedSsh } from "./lazy.js";
import type { HolderPeer } from "./peer.js";
import { stageContent } from "./content-stream.js";

/** The holder connection is closed after this long without an upcall (ms). */
export const IDLE_MS = 2000;
/** An upcall that finds the holder locked by a sync retries for this long (ms) before failing. */
export const LOCKED_RETRY_MS = 60_000;

/** What the upcalls did since the mount (for tests, and the mount's report). */
export interface UpcallStats {
  /** Objects fetched from the holder. */
  fetches: number;
  /** Content bytes fetched. */
  bytes: number;
  /** Connections opened to the holder. */
  connections: number;
}

/** Options of {@link LentoUpcall}. */
export interface LentoUpcallOptions {
  /** Set numeric ownership (only effective as root). */
  owner: boolean;
  /** Where failed fetches are reported (the mount's stderr). */
  log?: (line: string) => void;
  /** SSH options over those `replicate` recorded (tests: a client home of their own). */
  remote?: OpenRemoteOptions;
}

/** Fetches placeholders' data from the file set's holder for Presto. */
export class LentoUpcall {
  readonly stats: UpcallStats = { fetches: 0, bytes: 0, connections: 0 };
  private peer: Promise<HolderPeer> | undefined;
  private busy = 0;
  private idle: NodeJS.Timeout | undefined;

  /** The function Presto calls (`Presto.attach(set, layer, { upcall })`). */
  readonly upcall: Upcall = (obj, rel) => this.fetch(obj, rel);

  constructor(
    private readonly set: FileSet,
    /** Opens a new connection to the holder (`connectHolder` with the recorded endpoint). */
    private readonly connect: () => Promise<HolderPeer>,
    private readonly opts: LentoUpcallOptions,
  ) {}

  /**
   * Brings the data of `obj` (at root-relative `rel`) into the holding location. Rejects with the
   * holder's error (`CONNECTION_LOST`, `LOCKED` after retrying, `HASH_MISMATCH`, …): the opener
   * sees EIO and the placeholder stays as it was.
   */
  async fetch(obj: FsObject, rel: string): Promise<void> {
    if (obj.type !== "f") {
      throw new ImzError("UNSUPPORTED", `${rel}: only file data is fetched on demand (a lazy replica's directories are complete)`);
    }
    this.busy++;
    clearTimeout(this.idle);
    try {
      const peer = await this.holder();
      const applier = new Applier(this.set, { owner: this.opts.owner });
      let staged;
      try {
        staged = await stageContent(applier.holding, peer.fetch(this.knownName(obj).fid));
      } catch (err) {
        if (isImzError(err, "CONNECTION_LOST")) this.drop();
        throw err;
      }
      await this.install(applier, obj.fid, staged);
      this.stats.fetches++;
      this.stats.bytes += staged.content.size;
    } catch (err) {
      this.opts.log?.(`fetch of ${rel} failed: ${err instanceof ImzError ? `[${err.code}] ` : ""}${(err as Error).message}`);
      throw err;
    } finally {
      if (--this.busy === 0) this.idle = setTimeout(() => void this.drop(), IDLE_MS).unref();
    }
  }

  /**
   * The name to ask the holder for: `obj` itself, or — for a hard link made here and not yet
   * reintegrated, which the holder does not know — another name of its inode the holder stamped.
   */
  private knownName(obj: FsObject): FsObject {
    if (obj.version !== "" || obj.ino === null) return obj;
    return this.set.fsdb.byIno(obj.ino).find((o) => o.version !== "") ?? obj;
  }

  /** Closes the holder connection, if any. */
  async close(): Promise<void> {
    clearTimeout(this.idle);
    await this.drop();
  }

  /**
   * Installs fetched content over the placeholder, through `Applier`'s close path. Content the
   * holder changed since this replica last synced is installed all the same (the holder's current
   * version is the best data there is); the next sync's update notification stamps it.
   */
  private async install(applier: Applier, fid: string, staged: StagedContent): Promise<void> {
    const cur = this.set.fsdb.get(fid);
    if (!isPlaceholder(cur)) {
      fs.rmSync(staged.temp, { force: true }); // removed meanwhile, or filled by a sync
      return;
    }
    // The same content: keep the replica's own mtime (a `touch` through the mount before the read).
    const content = staged.content.hash === cur!.hash ? { ...staged.content, mtimeNs: cur!.mtimeNs } : staged.content;
    const rec: JournalRecord = { op: "close", fid, base: cur!.version, content, seq: 0, origin: this.set.replicaId, originSeq: 0, time: Date.now() };
    const commit = await applier.apply(rec, { ...staged, content });
    this.set.transaction(() => commit(cur!.version));
    for (const w of applier.takeWarnings()) this.opts.log?.(`${w.path}: ${w.code}: ${w.message}`);
    await applier.finishBatch();
  }

  /** The open connection, attached to the holder (no scan), or a new one. */
  private holder(): Promise<HolderPeer> {
    if (!this.peer) {
      const p = this.attach();
      p.catch(() => {
        if (this.peer === p) this.peer = undefined;
      });
      this.peer = p;
    }
    return this.peer;
  }

  private async attach(): Promise<HolderPeer> {
    const deadline = Date.now() + LOCKED_RETRY_MS;
    for (;;) {
      const peer = await this.connect();
      this.stats.connections++;
      try {
        const reply = await peer.attach({
          replica: this.set.replicaId,
          filesetId: this.set.filesetId,
          expectHolder: true,
          scan: { scan: false, maxDeleteFraction: 1, force: false },
          dryRun: false,
        });
        if (reply.holder !== this.set.meta("holder_replica")) {
          throw new ImzError("FILESET_MISMATCH", `the holder at the recorded endpoint is no longer this replica's holder`, {
            hint: "sync the replica with intermezzo-sync first (it re-joins a recreated holder)",
          });
        }
        return peer;
      } catch (err) {
        await peer.close().catch(() => undefined);
        if (!isImzError(err, "LOCKED") || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  private async drop(): Promise<void> {
    const p = this.peer;
    this.peer = undefined;
    if (p) await p.then((peer) => peer.close()).catch(() => undefined);
  }
}

/**
 * Lento's upcalls for a lazy replica, connecting to the holder `replicate` recorded (with the SSH
 * identity files and remote command it was given; the host key must be in known_hosts); undefined for
 * a file set that is not a lazy replica (every object has its data). Throws `NO_DATA` for a lazy
 * replica whose holder endpoint was never recorded.
 */
export function upcallsFor(set: FileSet, opts: LentoUpcallOptions): LentoUpcall | undefined {
  if (!isLazy(set)) return undefined;
  const spec = holderEndpoint(set);
  if (spec === undefined) {
    throw new ImzError("NO_DATA", `${set.root} is a lazy replica but does not say where its holder is`, {
      hint: "make it again with 'intermezzo replicate SERVER DIR --lazy'",
    });
  }
  const remote: OpenRemoteOptions = { ...recordedSsh(set), ...opts.remote };
  return new LentoUpcall(set, () => connectHolder(spec, { owner: opts.owner, remote }), opts);
}
