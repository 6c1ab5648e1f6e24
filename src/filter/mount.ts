/**
 * Mounting a file set through Presto: open the file set, attach the filter (recovery scan, then
 * the `attach` event), mount the FUSE adapter over it; and the reverse, in order, on unmount.
 */
import fs from "node:fs";
import path from "node:path";
import { FileSet } from "../journal/fileset.js";
import { mountLayer, type MountOptions } from "./fuse-adapter.js";
import { Passthrough } from "./passthrough.js";
import { Presto, type Upcall } from "./presto.js";

/** Lento's side of a mount's upcalls, made once the file set is open. */
export interface UpcallProvider {
  /** Fetches objects without data (a lazy replica). */
  readonly upcall?: Upcall;
  /** Asks for an object's permit before a write (a replica with a live Lento; see `presto-permits.ts`). */
  readonly permit?: (fid: string) => Promise<boolean>;
  /** The filter now serving (Lento releases permits through it). */
  attached?(presto: Presto): void;
  /** Ends the provider's connections (after unmount). */
  close(): Promise<void>;
}

/** A file set mounted through the filter. */
export interface MountedFileSet {
  readonly presto: Presto;
  readonly mountpoint: string;
  /** Unmounts, waits for pending journaling, records `detach`, closes the file set. Idempotent. */
  unmount(): Promise<void>;
}

/**
 * Mounts the file set at `dir` on `mountpoint`; with `upcalls`, objects without data are fetched
 * through the provider it returns for the open file set. Throws `NOT_A_FILESET`, `LOCKED`,
 * `MASS_DELETE`, `IO`.
 */
export async function mountFileSet(
  dir: string,
  mountpoint: string,
  opts: MountOptions = {},
  upcalls?: (set: FileSet) => UpcallProvider | undefined,
): Promise<MountedFileSet> {
  const set = FileSet.open(dir);
  let presto: Presto;
  let provider: UpcallProvider | undefined;
  try {
    provider = upcalls?.(set);
    presto = await Presto.attach(set, new Passthrough(set.root), { detail: { mountpoint: path.resolve(mountpoint) }, upcall: provider?.upcall, permit: provider?.permit });
    provider?.attached?.(presto);
  } catch (err) {
    set.close();
    throw err;
  }
  let mounted;
  try {
    mounted = await mountLayer(presto, path.resolve(mountpoint), { fsname: `intermezzo:${set.root}`, ...opts });
  } catch (err) {
    await presto.detach();
    await provider?.close();
    set.close();
    throw err;
  }
  let done: Promise<void> | undefined;
  return {
    presto,
    mountpoint: mounted.mountpoint,
    unmount: () =>
      (done ??= (async () => {
        try {
          if (isMounted(mounted.mountpoint)) await mounted.unmount();
        } finally {
          await presto.detach();
          await provider?.close();
          set.close();
        }
      })()),
  };
}

/** True when a file system is mounted exactly at `mountpoint` (from /proc/self/mountinfo). */
export function isMounted(mountpoint: string): boolean {
  const want = path.resolve(mountpoint);
  const info = fs.readFileSync("/proc/self/mountinfo", "utf8");
  for (const line of info.split("\n")) {
    const field = line.split(" ")[4];
    if (field !== undefined && field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === want) return true;
  }
  return false;
}
