/**
 * Lento's own SSH server (ssh2), for long-running servers that clients reach with
 * `imz://[user@]host:port/fileset`. It authenticates clients by public key only, against an
 * OpenSSH authorized_keys file, and accepts exactly one kind of request: an `exec` of
 * `intermezzo serve --stdio FILESET` (the first word may be a path ending in `intermezzo`;
 * words are POSIX single-quote quoted as the exec client sends them). Subsystems are not
 * used. Shell, pty, sftp, subsystems, env, X11, agent and TCP/stream-local forwarding
 * are all refused (ssh2 answers every request type without a listener with a failure,
 * and none is registered). Nothing is ever run: the fileset stream goes to the handler.
 *
 * Bounds, like OpenSSH's MaxStartups / LoginGraceTime / MaxAuthTries / MaxSessions:
 * simultaneous connections, simultaneous unauthenticated connections, time to
 * authenticate, failed attempts per connection, and one session channel per connection.
 */
import { constants } from "node:fs";
import { open, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import type { Server, Socket } from "node:net";
import { basename } from "node:path";
import { Duplex } from "node:stream";
import type { AuthContext, Connection, ParsedKey, Server as SshServer, ServerChannel } from "ssh2";
import { ImzError } from "../errors.js";
import { onFirstUse } from "../on-first-use.js";
import { findAuthorizedKey, readAuthorizedKeys } from "./authorized-keys.js";
import type { AuthorizedKeys } from "./authorized-keys.js";
import { generateEd25519KeyPair } from "./keygen.js";
import { keyFingerprint } from "./known-hosts.js";
import { isValidFilesetName } from "./remote-path.js";
import { splitShellWords } from "./shell-words.js";

const ssh2 = onFirstUse<typeof import("ssh2")>("ssh2");

/**
 * Serves one file set stream. `stream` reads the client's bytes and writes to the client;
 * ending it ends the exec with exit status 0. If the client vanishes, `stream` is
 * destroyed without an error (`'close'` without `'end'`).
 */
export type LentoHandler = (fileset: string, user: string, stream: Duplex) => void;

/** Options of {@link createLentoListener}. */
export interface LentoListenerOptions {
  /** OpenSSH private host key (see {@link initHostKey}). */
  readonly hostKeyFile: string;
  /** OpenSSH authorized_keys file of the clients allowed in. */
  readonly authorizedKeysFile: string;
  readonly handler: LentoHandler;
  /** Address to bind; default `127.0.0.1`. */
  readonly host?: string;
  /** Port to bind; default 0 (any free port, see the result of `start()`). */
  readonly port?: number;
  /** Simultaneous connections; more are dropped at once. Default 64. */
  readonly maxConnections?: number;
  /** Simultaneous connections not yet authenticated; default 10. */
  readonly maxUnauthenticated?: number;
  /** Time allowed from connect to successful authentication, ms; default 30000. */
  readonly authTimeoutMs?: number;
  /** Failed authentication attempts per connection; default 6. */
  readonly maxAuthAttempts?: number;
  /** SSH keepalive period in ms; default 15000. */
  readonly keepaliveIntervalMs?: number;
  /** Receives one line per notable event (accepted/refused keys and requests, errors). */
  readonly log?: (line: string) => void;
}

/** The bound address. */
export interface ListenerAddress {
  readonly host: string;
  readonly port: number;
}

/** A Lento listener. */
export interface LentoListener {
  /** Reads the host key and authorized keys, then listens. */
  start(): Promise<ListenerAddress>;
  /** Re-reads the authorized keys file (new connections see the new list). */
  reloadAuthorizedKeys(): Promise<void>;
  /** Stops listening and ends every connection; resolves when all are closed. */
  close(): Promise<void>;
}

/** Per-TCP-connection bookkeeping, from accept to close. */
interface Peer {
  readonly socket: Socket;
  readonly name: string;
  client: Connection | undefined;
  authenticated: boolean;
  readonly timer: NodeJS.Timeout;
}

/**
 * Creates (does not start) a listener. Sockets are accepted by a plain TCP server and then
 * handed to ssh2 (`injectSocket`), so the bounds and the authentication deadline apply from
 * the first byte, not only after the client's SSH banner.
 */
export function createLentoListener(options: LentoListenerOptions): LentoListener {
  const log = options.log ?? ((): void => undefined);
  const maxConnections = options.maxConnections ?? 64;
  const maxUnauthenticated = options.maxUnauthenticated ?? 10;
  const maxAuthAttempts = options.maxAuthAttempts ?? 6;
  const authTimeoutMs = options.authTimeoutMs ?? 30_000;
  let authorized: AuthorizedKeys = { keys: [], skipped: [] };
  let tcp: Server | undefined;
  const peers = new Map<string, Peer>();

  const reloadAuthorizedKeys = async (): Promise<void> => {
    authorized = await readAuthorizedKeys(options.authorizedKeysFile);
    for (const s of authorized.skipped) log(`${options.authorizedKeysFile}:${s.line}: skipped: ${s.reason}`);
  };

  const accept = (socket: Socket, ssh: SshServer): void => {
    const name = `${socket.remoteAddress}:${socket.remotePort}`;
    const pending = [...peers.values()].filter((p) => !p.authenticated).length;
    if (peers.size >= maxConnections || pending >= maxUnauthenticated) {
      log(`${name}: dropped (${peers.size} connections, ${pending} unauthenticated)`);
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => {
      log(`${name}: authentication timed out`);
      socket.destroy();
    }, authTimeoutMs);
    socket.setNoDelay(true); // small request/reply frames: no Nagle delay (see ssh-exec.ts)
    peers.set(name, { socket, name, client: undefined, authenticated: false, timer });
    socket.once("close", () => {
      clearTimeout(timer);
      peers.delete(name);
    });
    ssh.injectSocket(socket);
  };

  const onClient = (client: Connection, peer: Peer): void => {
    peer.client = client;
    let failures = 0;
    let sessions = 0;
    let user = "";
    const fail = (): void => {
      if (++failures >= maxAuthAttempts) client.end();
    };
    client.on("error", (err: Error) => log(`${peer.name}: ${err.message}`));
    client.on("authentication", (ctx: AuthContext) => {
      const key = ctx.method === "publickey" ? findAuthorizedKey(authorized, ctx.key.data) : undefined;
      if (ctx.method !== "publickey" || key === undefined) {
        if (ctx.method === "publickey") log(`${peer.name}: refused key ${keyFingerprint(ctx.key.data)} for ${ctx.username}`);
        ctx.reject(["publickey"]);
        if (ctx.method !== "none") fail();
      } else if (ctx.signature === undefined || ctx.blob === undefined) {
        ctx.accept(); // a key query: "this key would be acceptable"
      } else if (key.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true) {
        user = ctx.username;
        log(`${peer.name}: accepted key ${keyFingerprint(ctx.key.data)} (line ${key.line}) for ${user}`);
        ctx.accept();
      } else {
        ctx.reject(["publickey"]);
        fail();
      }
    });
    client.on("ready", () => {
      peer.authenticated = true;
      clearTimeout(peer.timer);
      client.on("session", (acceptSession, rejectSession) => {
        if (++sessions > 1) {
          rejectSession();
          return;
        }
        const session = acceptSession();
        // ssh2 ends the channel's readable side both on the client's EOF and when the
        // connection dies; only the session's 'eof' event tells the two apart.
        let eof = false;
        session.once("eof", () => (eof = true));
        session.on("exec", (acceptExec, rejectExec, info) => {
          const fileset = parseServeCommand(info.command);
          if (fileset === undefined) {
            log(`${peer.name}: refused exec ${JSON.stringify(info.command)}`);
            rejectExec();
            return;
          }
          serve(acceptExec(), () => eof, { fileset, user, handler: options.handler, log });
        });
      });
    });
  };

  return {
    async start() {
      const hostKey = (await readHostKey(options.hostKeyFile)).text;
      await reloadAuthorizedKeys();
      const ssh = new (ssh2().Server)({ hostKeys: [hostKey], keepaliveInterval: options.keepaliveIntervalMs ?? 15_000 });
      ssh.on("connection", (client, info) => {
        const peer = peers.get(`${info.ip}:${info.port}`);
        if (peer === undefined) client.end();
        else onClient(client, peer);
      });
      const srv = createServer((socket) => accept(socket, ssh));
      tcp = srv;
      await new Promise<void>((resolve, reject) => {
        srv.once("error", reject);
        srv.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
          srv.removeListener("error", reject);
          resolve();
        });
      });
      srv.on("error", (err: Error) => log(`listener: ${err.message}`));
      const addr = srv.address();
      if (addr === null || typeof addr === "string") throw new ImzError("IO", "listener has no TCP address");
      return { host: addr.address, port: addr.port };
    },
    reloadAuthorizedKeys,
    async close() {
      const srv = tcp;
      if (srv === undefined) return;
      tcp = undefined;
      const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
      for (const peer of peers.values()) {
        if (peer.client) peer.client.end();
        else peer.socket.destroy();
      }
      await closed;
    },
  };
}

/** The file set named by `intermezzo serve --stdio FILESET`, or `undefined` for any other command. */
export function parseServeCommand(command: string): string | undefined {
  const words = splitShellWords(command);
  if (words === undefined || words.length !== 4) return undefined;
  const [program, verb, flag, fileset] = words as [string, string, string, string];
  if (basename(program) !== "intermezzo" || verb !== "serve" || flag !== "--stdio") return undefined;
  return isValidFilesetName(fileset) ? fileset : undefined;
}

/**
 * Bridges the exec channel to the handler's stream so that ending the stream sends exit
 * status 0 before EOF/close (ssh2 closes a server channel on `end()`, too late for `exit()`).
 */
function serve(
  channel: ServerChannel,
  clientSentEof: () => boolean,
  { fileset, user, handler, log }: { fileset: string; user: string; handler: LentoHandler; log: (line: string) => void },
): void {
  const stream = new Duplex({
    read: () => void channel.resume(),
    write: (chunk: Buffer, _enc, done) => {
      if (channel.write(chunk)) done();
      else channel.once("drain", () => done());
    },
    final: (done) => {
      channel.exit(0);
      channel.end();
      done();
    },
    destroy: (err, done) => {
      channel.close();
      done(err);
    },
  });
  channel.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) channel.pause();
  });
  channel.on("end", () => (clientSentEof() ? stream.push(null) : stream.destroy()));
  channel.on("close", () => {
    if (!stream.writableFinished) stream.destroy();
  });
  try {
    handler(fileset, user, stream);
  } catch (err) {
    log(`handler for ${fileset}: ${err instanceof Error ? err.message : String(err)}`);
    channel.stderr.write(`intermezzo: internal error serving ${fileset}\n`);
    channel.exit(1);
    channel.end();
  }
}

/** Reads and checks a host key file; ssh2's Server wants the key text, so both are returned. */
async function readHostKey(file: string): Promise<{ text: string; key: ParsedKey }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (cause) {
    throw new ImzError("SSH_CONFIG", `cannot read host key ${file}`, {
      hint: "create one with `intermezzo serve --init`",
      path: file,
      cause,
    });
  }
  const key = ssh2().utils.parseKey(text);
  if (key instanceof Error || !key.isPrivateKey()) {
    throw new ImzError("SSH_CONFIG", `${file} is not an unencrypted OpenSSH private key`, {
      hint: "move it aside; `intermezzo serve --listen … --init` then creates a new one",
      path: file,
    });
  }
  return { text, key };
}

/** The outcome of {@link initHostKey}. */
export interface HostKeyInfo {
  readonly created: boolean;
  /** `ssh-ed25519 AAAA…`, for clients' known_hosts. */
  readonly publicKey: string;
  readonly fingerprint: string;
}

/**
 * `--init`: creates an ed25519 host key at `file` (mode 0600, never overwriting) and its
 * `.pub` beside it, unless `file` already holds a valid key. Either way reports the key.
 */
export async function initHostKey(file: string): Promise<HostKeyInfo> {
  let created = false;
  try {
    const pair = generateEd25519KeyPair("intermezzo-lento");
    const handle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await handle.writeFile(pair.private);
      await handle.sync();
    } finally {
      await handle.close();
    }
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new ImzError("IO", `cannot create host key ${file}`, { path: file, cause: err });
    }
  }
  const { key } = await readHostKey(file);
  const wire = key.getPublicSSH();
  const publicKey = `${key.type} ${wire.toString("base64")}`;
  if (created) await writeFile(`${file}.pub`, `${publicKey}\n`, { mode: 0o644 });
  return { created, publicKey, fingerprint: keyFingerprint(wire) };
}
