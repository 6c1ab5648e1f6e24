/**
 * The holder's Lento as one process per holding location: a running `intermezzo serve --socket`
 * (or `--listen`) also listens on `.intermezzo/holder.sock`, and every other way of reaching that
 * holder on its host is handed to it — `serve --stdio` (each SSH connection's command) relays its
 * stdin and stdout to the socket, and a local sync connects to it instead of serving the holder
 * in-process. All live replicas then meet in one process: one callback table, one permit table (a
 * permit is only a permit if every replica asks the same table; see `permits.ts`).
 *
 * The socket is the file set owner's (mode 0600): another user's `serve --stdio` cannot connect and
 * serves by itself, as it would without a daemon. A socket left by a daemon that died is replaced.
 */
import fs from "node:fs";
import net from "node:net";
import type { Readable, Writable } from "node:stream";
import { HOLDER_SOCKET, metaSocketPath } from "./sockets.js";

/** Listens at the holder socket of `root`, handing each connection to `serve`. Returns how to stop. */
export async function listenHolderSocket(root: string, serve: (sock: net.Socket) => void): Promise<(() => Promise<void>) | undefined> {
  const where = metaSocketPath(root, HOLDER_SOCKET);
  if (!where) return undefined;
  if (await connectable(where)) return undefined; // another daemon serves this tree
  fs.rmSync(where, { force: true });
  const server = net.createServer(serve);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(where, () => {
      server.off("error", reject);
      resolve();
    });
  });
  fs.chmodSync(where, 0o600);
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      fs.rmSync(where, { force: true });
    });
}

/** A connection to the holder daemon of `root`, or undefined when none runs (or it is not ours to reach). */
export async function connectHolderSocket(root: string): Promise<net.Socket | undefined> {
  const where = metaSocketPath(root, HOLDER_SOCKET);
  if (!where || !fs.existsSync(where)) return undefined;
  return new Promise((resolve) => {
    const sock = net.connect(where);
    sock.once("error", () => resolve(undefined));
    sock.once("connect", () => {
      sock.removeAllListeners("error");
      resolve(sock);
    });
  });
}

/** Relays `input`/`output` to the holder daemon's socket until either side ends. */
export async function relay(sock: net.Socket, input: Readable, output: Writable): Promise<void> {
  input.pipe(sock);
  sock.pipe(output);
  await new Promise<void>((resolve) => {
    sock.once("close", () => resolve());
    input.once("end", () => sock.end());
    input.once("close", () => sock.end());
  });
}

async function connectable(where: string): Promise<boolean> {
  if (!fs.existsSync(where)) return false;
  return new Promise((resolve) => {
    const sock = net.connect(where);
    sock.once("error", () => resolve(false));
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
  });
}
