/**
 * The Unix sockets a file set's Lento listens on inside `.intermezzo/` (a module of names only, so a
 * local sync can look for one without loading the wire protocol).
 */
import path from "node:path";
import { META_DIR } from "../journal/fileset.js";

/** A replica's Lento, reached by its Presto mount (`upcall-socket.ts`). */
export const UPCALL_SOCKET = "lento.sock";
/** A holder's Lento daemon, reached by `serve --stdio` and local syncs (`holder-socket.ts`). */
export const HOLDER_SOCKET = "holder.sock";
/** Longest socket path the kernel takes (sun_path, less its terminating NUL). */
const MAX_SOCKET_PATH = 107;

/** Where socket `name` of the file set at `root` is, or undefined when its path is too long for a socket. */
export function metaSocketPath(root: string, name: string): string | undefined {
  const p = path.join(root, META_DIR, name);
  return Buffer.byteLength(p) <= MAX_SOCKET_PATH ? p : undefined;
}
