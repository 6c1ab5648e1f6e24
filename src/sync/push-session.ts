/**
 * The push form's record of itself on its holder (`push-live.ts`: `intermezzo-sync --mirror --watch
 * MASTER host:DEST`). A pull session's state is in its replica's file set (`attachment.ts`), where
 * `intermezzo status` shows it; a push session's replica is on the other host, so the master's own
 * status had nothing to say about it. Each session keeps one small JSON file per DEST under the
 * holder's `.intermezzo/push-sessions/`: its state and since when, its process, its last exchange.
 * Status reads them, and a session whose process is gone (killed) shows as not live, with when it
 * was last live and last exchanged.
 *
 * A file, not a row: the holder's database is written by this same process's connections in
 * grouped transactions held across awaits (a reintegration batch waiting for content), and a row
 * written beside one would wait on it with the event loop blocked. Written whole to a temp name in
 * `.intermezzo/tmp` (`push-<pid>-…`, swept if a kill leaves it) and renamed into place.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ImzError } from "../errors.js";
import { FileSet, META_DIR } from "../journal/fileset.js";
import { randomHex } from "../random-hex.js";
import type { AttachmentInfo, AttachmentState } from "./attachment.js";

/** A push session as its holder's status shows it: where it pushes, and where it stands. */
export interface PushSessionInfo extends AttachmentInfo {
  /** The replica it keeps live, as given on its command line (`host:/path`, `ssh://…`, `imz://…`). */
  dest: string;
}

/** Folder of the session files inside `.intermezzo/`. */
const SESSIONS_DIR = "push-sessions";

/**
 * Keeps the session file of the push session from this process to `dest` (one file per DEST: a
 * later session to the same DEST takes it over). Writes only once the holder's file set exists
 * (a master's first sync makes it).
 */
export class PushSessionRecord {
  private readonly info: PushSessionInfo;
  private readonly name: string;

  /** @param onError a failed write (the session goes on: its file is what status shows, nothing more) */
  constructor(
    private readonly holderRoot: string,
    dest: string,
    private readonly onError: (err: unknown) => void,
  ) {
    this.info = { dest, state: "connecting", since: Date.now(), pid: process.pid, host: os.hostname() };
    this.name = `${createHash("sha256").update(dest).digest("hex").slice(0, 16)}.json`;
  }

  /** The session is now in `state` (`error`: why the last connection failed). */
  state(state: AttachmentState, error?: string): void {
    Object.assign(this.info, { state, since: Date.now() });
    if (error === undefined) delete this.info.error;
    else this.info.error = error;
    this.write();
  }

  /** An exchange of the replica shipped, applied or met something. */
  exchanged(): void {
    this.info.lastExchange = Date.now();
    this.write();
  }

  private write(): void {
    if (!FileSet.exists(this.holderRoot)) return;
    const meta = path.join(this.holderRoot, META_DIR);
    const temp = path.join(meta, "tmp", `push-${process.pid}-${randomHex(8)}`);
    try {
      fs.mkdirSync(path.join(meta, SESSIONS_DIR), { recursive: true, mode: 0o700 });
      fs.writeFileSync(temp, JSON.stringify(this.info));
      fs.renameSync(temp, path.join(meta, SESSIONS_DIR, this.name));
    } catch (err) {
      fs.rmSync(temp, { force: true });
      this.onError(
        new ImzError("IO", `could not record the push session for intermezzo status: ${(err as Error).message}`, {
          hint: `the session goes on; check the space and permissions of ${meta}`,
          cause: err,
        }),
      );
    }
  }
}

/** The push sessions recorded on the holder at `root`, by DEST; a file that cannot be read is passed over. */
export function readPushSessions(root: string): PushSessionInfo[] {
  const dir = path.join(root, META_DIR, SESSIONS_DIR);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith(".json"));
  } catch {
    return [];
  }
  const out: PushSessionInfo[] = [];
  for (const name of names) {
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(dir, name), "utf8")) as PushSessionInfo);
    } catch {
      // removed meanwhile, or not ours
    }
  }
  return out.sort((a, b) => (a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0));
}
