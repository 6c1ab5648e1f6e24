/**
 * `intermezzo serve`: serve file sets. `--stdio DIR` speaks the protocol on stdin/stdout (a local
 * sync's child, or an SSH exec); `--listen HOST:PORT` runs Lento's own SSH listener for the named
 * directories, reached as `imz://host:port/NAME` (NAME: the file set's name, default its directory's).
 */
import type { Command } from "commander";
import path from "node:path";
import type { Duplex } from "node:stream";
import { ImzError } from "../errors.js";
import { FileSet } from "../journal/fileset.js";
import { serveConnection } from "../sync/serve.js";
import { connectHolderSocket, listenHolderSocket, relay } from "../sync/holder-socket.js";
import type { ServerOptions } from "../sync/server.js";
import { runAction } from "./exit.js";

interface ServeOptions {
  stdio: boolean;
  owner: boolean;
  listen?: string;
  hostKey?: string;
  authorizedKeys?: string;
  init: boolean;
  socket: boolean;
  callbackTimeout?: string;
}

/** The server options from the command line. */
function serverOptions(o: ServeOptions, log?: (line: string) => void): ServerOptions {
  const ms = o.callbackTimeout === undefined ? undefined : Number(o.callbackTimeout);
  if (ms !== undefined && !(Number.isInteger(ms) && ms > 0)) {
    throw new ImzError("USAGE", `--callback-timeout wants milliseconds, not '${o.callbackTimeout}'`, { hint: "e.g. --callback-timeout 10000" });
  }
  return { owner: o.owner, ...(ms !== undefined ? { callbackTimeoutMs: ms } : {}), ...(log ? { log } : {}) };
}

/** The name a served directory is reached by. */
function nameOf(dir: string): string {
  if (!FileSet.exists(dir)) return path.basename(dir);
  const set = FileSet.open(dir);
  try {
    return set.name;
  } finally {
    set.close();
  }
}

/**
 * Lento as a service for `dirs`: each tree's holder socket (`.intermezzo/holder.sock`, to which
 * `serve --stdio` and local syncs hand their connections), and with `--listen` Lento's own SSH
 * listener. Runs until SIGTERM or SIGINT, then shuts down cleanly.
 */
async function daemon(dirs: string[], o: ServeOptions): Promise<void> {
  if (dirs.length === 0) throw new ImzError("USAGE", "name at least one directory to serve");
  for (const d of dirs) {
    if (o.listen === undefined && !FileSet.exists(path.resolve(d))) {
      throw new ImzError("NOT_A_FILESET", `${d} is not a file set`, { hint: "sync it once (or 'intermezzo init') before serving it with --socket" });
    }
  }
  const byName = new Map(dirs.map((d) => [nameOf(path.resolve(d)), path.resolve(d)]));
  const log = (line: string): void => void process.stderr.write(`intermezzo: ${line}\n`);
  const serverOpts = serverOptions(o, log);
  // every connection served, until it ends: a shutdown ends them and waits for their file sets to close
  const active = new Map<Duplex, Promise<unknown>>();
  const serve = (stream: Duplex, resolveRoot: () => string): void => {
    const served = serveConnection(stream, stream, resolveRoot, serverOpts);
    active.set(stream, served);
    void served.finally(() => active.delete(stream));
  };
  const closers: Array<() => Promise<void>> = [];
  const sockets: string[] = [];
  for (const root of byName.values()) {
    if (!FileSet.exists(root)) continue; // a tree its first replica makes a file set: reached by --listen alone
    const close = await listenHolderSocket(root, (sock) => serve(sock, () => root));
    if (close) {
      closers.push(close);
      sockets.push(root);
    } else log(`${root}: another Lento serves it already (its holder socket answers); not taking it over`);
  }
  let listener: { close(): Promise<void> } | undefined;
  if (o.listen !== undefined) listener = await listen(o, byName, serve);
  else if (sockets.length === 0) {
    throw new ImzError("LOCKED", "every tree named already has its Lento running", { hint: "stop that 'intermezzo serve' first, or let it serve" });
  } else log(`serving ${sockets.join(" ")} (holder sockets)`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  // A clean shutdown: stop accepting, tell every client (SSH disconnect), end each connection's
  // stream so its file set is closed (a reintegration in flight is not acknowledged; its replica
  // sends it again), and wait for them — bounded, a stuck peer does not keep the server up.
  log(`shutting down (${active.size} connection(s))`);
  const bounded = (p: Promise<unknown>, ms: number): Promise<unknown> => Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]);
  await bounded(Promise.all([listener?.close(), ...closers.map((c) => c())]), 3000);
  for (const stream of active.keys()) stream.destroy(new ImzError("CONNECTION_LOST", "the server is shutting down"));
  await bounded(Promise.allSettled(active.values()), 10_000);
  if (active.size > 0) log(`${active.size} connection(s) did not close in 10 s; exiting anyway`);
  // Done: end explicitly, after runAction has set the exit code. A handle left behind — a stuck
  // connection past the bound, or an inotify watch added for a directory created while the
  // watcher closed (seen under churn with chokidar) — must not keep a stopped daemon alive for good.
  setImmediate(() => process.exit());
}

/** Starts Lento's SSH listener (`--listen HOST:PORT`) for the named trees. */
async function listen(o: ServeOptions, byName: Map<string, string>, serve: (stream: Duplex, resolveRoot: () => string) => void): Promise<{ close(): Promise<void> }> {
  const [host, portText] = (o.listen ?? "").split(/:(?=[0-9]+$)/);
  const port = Number(portText);
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ImzError("USAGE", `--listen wants HOST:PORT, not '${o.listen}'`, { hint: "e.g. --listen 127.0.0.1:2222" });
  }
  if (!o.hostKey || !o.authorizedKeys) {
    throw new ImzError("USAGE", "--listen needs --host-key FILE and --authorized-keys FILE", { hint: "add --init to create the host key" });
  }
  const { createLentoListener, initHostKey } = await import("../ssh/listener.js");
  if (o.init) {
    const k = await initHostKey(o.hostKey);
    if (k.created) process.stderr.write(`intermezzo: created host key ${o.hostKey} (${k.fingerprint})\n`);
  }
  const listener = createLentoListener({
    host,
    port,
    hostKeyFile: o.hostKey,
    authorizedKeysFile: o.authorizedKeys,
    log: (line) => process.stderr.write(`intermezzo: ${line}\n`),
    handler: (fileset, _user, stream) => {
      const root = byName.get(fileset);
      serve(stream, () => {
        if (!root) throw new ImzError("NOT_A_FILESET", `this server does not serve '${fileset}'`, { hint: `served: ${[...byName.keys()].join(", ")}` });
        return root;
      });
    },
  });
  const addr = await listener.start();
  process.stderr.write(`intermezzo: serving ${[...byName.keys()].map((n) => `imz://${addr.host}:${addr.port}/${n}`).join(" ")}\n`);
  return listener;
}

/** Registers `serve`. */
export function register(program: Command): void {
  program
    .command("serve")
    .description("serve file sets over stdin/stdout (--stdio DIR), as their Lento (--socket DIR...), or with Lento's SSH listener too (--listen HOST:PORT DIR...)")
    .option("--stdio", "speak the protocol on stdin/stdout", false)
    .option("--socket", "run as the trees' Lento: serve their holder sockets (serve --stdio and local syncs hand over to it)", false)
    .option("--listen <host:port>", "run Lento's SSH listener")
    .option("--host-key <file>", "the listener's OpenSSH private host key")
    .option("--authorized-keys <file>", "public keys of the clients allowed in (authorized_keys format)")
    .option("--init", "create the host key if it does not exist", false)
    .option("--no-owner", "do not set numeric ownership")
    .option("--callback-timeout <ms>", "how long a live replica may take to answer a BreakCallback or give back a permit (default 10000)")
    .argument("[dir...]", "the file set(s) to serve")
    .action((dirs: string[], o: ServeOptions) =>
      runAction("intermezzo", async () => {
        if (o.listen !== undefined || o.socket) return daemon(dirs, o);
        if (!o.stdio) throw new ImzError("USAGE", "serve needs --stdio, --socket or --listen", { hint: "intermezzo serve --stdio DIR" });
        if (dirs.length !== 1) throw new ImzError("USAGE", "serve --stdio takes exactly one file set directory", { hint: "intermezzo serve --stdio DIR" });
        const root = path.resolve(dirs[0]!);
        // a Lento already serving this tree takes the connection: all its replicas meet in one process
        const sock = await connectHolderSocket(root);
        if (sock) return relay(sock, process.stdin, process.stdout);
        await serveConnection(process.stdin, process.stdout, () => root, serverOptions(o));
      }),
    );
}
