/**
 * Reaching a holder: in-process (what `intermezzo-sync` does between two local trees: one Node
 * process, no framing), a local `intermezzo serve --stdio` child speaking the wire protocol (its
 * `--transport stdio`, and what `connectHolder` uses for a local path), or a remote one over SSH.
 */
import fs from "node:fs";
import path from "node:path";
import { ImzError, isImzError } from "../errors.js";
import { META_DIR } from "../journal/fileset.js";
import { installed } from "../install.js";
import { nodeChildEnv } from "../node-env.js";
import type { OpenRemoteOptions } from "../ssh/open-remote.js";
import { parseEndpoint, type LentoEndpoint, type SshEndpoint } from "../ssh/remote-path.js";
import type { HolderPeer } from "./peer.js";
import type { RemoteStream } from "./remote-replica.js";
import { HOLDER_SOCKET } from "./sockets.js";
import { LentoServer } from "./server.js";

/** Path of this installation's `intermezzo` launcher. */
export const INTERMEZZO_BIN = installed("bin", "intermezzo");

/** How to reach a holder on this host. */
export type LocalTransport = "in-process" | "stdio";

/**
 * Connects to the holder at local path `root`: through its Lento's socket when one serves it
 * (`serve --socket`/`--listen`: every replica then meets the others in one process), else as asked.
 */
export async function connectLocal(root: string, transport: LocalTransport, owner: boolean): Promise<HolderPeer> {
  if (fs.existsSync(path.join(root, META_DIR, HOLDER_SOCKET))) {
    const [{ connectHolderSocket }, { WirePeer }] = await Promise.all([import("./holder-socket.js"), import("./wire-peer.js")]);
    const sock = await connectHolderSocket(root);
    if (sock) return WirePeer.connect(sock, sock, { onClose: async () => void sock.destroy() });
  }
  if (transport === "in-process") return new LentoServer(root, { owner });
  // the wire protocol (and child_process) is loaded only when a transport uses it
  const [{ spawnStdio }, { WirePeer }] = await Promise.all([import("../ssh/stdio.js"), import("./wire-peer.js")]);
  const args = [INTERMEZZO_BIN, "serve", "--stdio", ...(owner ? [] : ["--no-owner"]), root];
  const child = spawnStdio(process.execPath, args, nodeChildEnv());
  return WirePeer.connect(child.input, child.output, {
    onClose: () => child.close(),
    explain: async (err) => {
      const code = await Promise.race([child.exited, new Promise((r) => setTimeout(() => r(undefined), 2000))]);
      const said = child.stderr().trim().split("\n").slice(-3).join(" / ");
      return new ImzError("HANDSHAKE_FAILED", `the local server did not start (exit ${String(code)}): ${said || err.message}`, {
        hint: "run 'npm run build' so dist/ is current",
        cause: err,
      });
    },
  });
}

/**
 * Connects to a holder on another host: over SSH to its `intermezzo serve --stdio PATH`, or to
 * Lento's listener (`imz://host:port/fileset`). A remote side that never starts the protocol is
 * explained from its exit status and stderr (`REMOTE_NOT_FOUND` for a missing intermezzo).
 */
export async function connectRemote(endpoint: SshEndpoint | LentoEndpoint, options: OpenRemoteOptions): Promise<HolderPeer> {
  const [remote, { WirePeer }] = await Promise.all([openRemoteStream(endpoint, options), import("./wire-peer.js")]);
  return WirePeer.connect(remote.stream, remote.stream, { onClose: () => remote.close(), explain: (err) => remote.explain(err) });
}

/**
 * Opens a byte stream to `intermezzo serve` on another host: an SSH exec of `serve --stdio PATH`,
 * or a channel of Lento's listener. A remote side that never starts the protocol is explained from
 * its exit status and stderr (`REMOTE_NOT_FOUND` for a missing intermezzo).
 */
export async function openRemoteStream(endpoint: SshEndpoint | LentoEndpoint, options: OpenRemoteOptions): Promise<RemoteStream> {
  // ssh2 is loaded only when a remote side is used.
  const { openRemote } = await import("../ssh/open-remote.js");
  const { explainRemoteExit } = await import("../ssh/ssh-exec.js");
  const channel = await openRemote(endpoint, options);
  return {
    stream: channel.stream,
    close: () => channel.close(),
    explain: async (err) => {
      if (isImzError(err, "PROTOCOL_VERSION")) return err;
      const exit = await Promise.race([channel.exit, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
      return exit ? explainRemoteExit(exit, channel.command) : err;
    },
  };
}

/**
 * Connects to the holder named by an endpoint argument (a local path, `[user@]host:path`,
 * `ssh://…` or `imz://…`), over the same transports `intermezzo-sync` uses.
 */
export async function connectHolder(spec: string, opts: { owner: boolean; transport?: LocalTransport; remote?: OpenRemoteOptions }): Promise<HolderPeer> {
  const e = parseEndpoint(spec);
  if (e.kind === "local") return connectLocal(e.path, opts.transport ?? "stdio", opts.owner);
  return connectRemote(e, opts.remote ?? {});
}
