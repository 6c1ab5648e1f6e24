/**
 * Signatures made ahead of their transfers. A receiver signs its basis of an object before it asks
 * for the object's new content (see `delta-transfer.ts`); when the sender says early which objects it
 * will send (while it is still scanning and hashing them), the receiver signs those bases meanwhile,
 * on the cores the sender's scan leaves idle, and the transfer then takes the finished signature.
 *
 * A signature is kept for the exact file it was made of — device, inode, size, mtime and ctime —
 * so a basis changed or replaced since is signed again, never described by a stale signature.
 */
import fs from "node:fs";
import { promisify } from "node:util";
import { signatureOfFile, type SignatureOptions } from "./delta/index.js";

/** Most signatures kept or being made at once (extra hints are ignored: the transfer signs then). */
export const MAX_PRESIGNED = 32;

const fstat = promisify(fs.fstat);

/** The identity of a file's version. */
function identity(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/** Signatures of basis files made ahead of time, each taken at most once. */
export class Presigned {
  private readonly made = new Map<string, Promise<Buffer | undefined>>();
  /** Signing runs one file at a time (each file already uses every core, see `signatureOfFile`). */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly pending = new Set<Promise<unknown>>();
  /** Transfers that found their signature made ahead. */
  hits = 0;

  constructor(private readonly options: SignatureOptions) {}

  /** Signs the open file `fd` in the background and closes it; an unreadable file is simply not signed. */
  sign(fd: number): void {
    let key: string | undefined;
    try {
      key = this.made.size < MAX_PRESIGNED ? identity(fs.fstatSync(fd, { bigint: true })) : undefined;
    } catch {
      // not signed
    }
    if (key === undefined || this.made.has(key)) {
      fs.closeSync(fd);
      return;
    }
    const signature = this.queue.then(() => signatureOfFile(fd, this.options)).catch(() => undefined);
    this.queue = signature;
    this.made.set(key, signature);
    this.track(signature.finally(() => fs.closeSync(fd)));
  }

  /**
   * The signature made ahead of the file open at `fd`, if its version is the one signed (the entry
   * is then dropped); undefined otherwise.
   */
  async take(fd: number): Promise<Buffer | undefined> {
    if (this.made.size === 0) return undefined;
    const key = await fstat(fd, { bigint: true }).then(identity, () => undefined);
    const signature = key === undefined ? undefined : this.made.get(key);
    if (signature === undefined) return undefined;
    this.made.delete(key!);
    const bytes = await signature;
    if (bytes !== undefined) this.hits++;
    return bytes;
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Waits for every signature being made (before the files' set is closed), then forgets them all. */
  async settle(): Promise<void> {
    await Promise.all([...this.pending]);
    this.made.clear();
  }
}
