/**
 * The SSH exec transport: an ssh2 client connection that checks the host key against
 * known_hosts, authenticates with the agent and key files, and execs one remote command
 * whose stdin/stdout become a byte stream. Framing and handshake are the caller's.
 *
 * Contract of the returned {@link SshExecChannel}:
 * - `stream` is the remote command's stdout (readable side) and stdin (writable side); it
 *   obeys backpressure both ways; `end()` sends EOF to the remote stdin.
 * - If the connection is lost while the channel is open, `stream` is destroyed with a
 *   `CONNECTION_LOST` error (listen for `'error'`), and `exit` reports it.
 * - `exit` resolves (never rejects) once the channel is closed; when the stream ends
 *   before the protocol handshake, {@link explainRemoteExit} turns it into the error to
 *   show (`REMOTE_NOT_FOUND` for a missing command, …).
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { Duplex } from "node:stream";
import type { AnyAuthMethod, Client, ClientChannel, ConnectConfig } from "ssh2";
import { ImzError } from "../errors.js";
import { onFirstUse } from "../on-first-use.js";
import {
  appendKnownHost,
  checkHostKey,
  formatKnownHostsLine,
  hostKeyError,
  preferredHostKeyAlgorithms,
  readKnownHosts,
} from "./known-hosts.js";
import { shellQuote } from "./shell-words.js";

const ssh2 = onFirstUse<typeof import("ssh2")>("ssh2");

/** The command run on the remote host unless `remoteCommand` overrides it. */
export const DEFAULT_REMOTE_COMMAND = "intermezzo serve --stdio";

/** What to do with a host key that is not yet in known_hosts (OpenSSH's StrictHostKeyChecking). */
export type HostKeyPolicy = "strict" | "accept-new";

/** Options of {@link sshExec}. */
export interface SshExecOptions {
  /** Host name or address to connect to (already resolved through ssh config); also the known_hosts name. */
  readonly host: string;
  /** Default 22. */
  readonly port?: number;
  readonly user: string;
  /** Shell text run remotely, like rsync's `--rsync-path`; default {@link DEFAULT_REMOTE_COMMAND}. */
  readonly remoteCommand?: string;
  /** Extra arguments, each shell-quoted and appended to the command. */
  readonly args?: readonly string[];
  /** Private key files (`-i`, IdentityFile); default `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` that exist. */
  readonly identityFiles?: readonly string[];
  /** ssh-agent socket; default `$SSH_AUTH_SOCK`; `null` disables the agent. */
  readonly agent?: string | null;
  /** Home directory for the default key and known_hosts paths; default `os.homedir()`. */
  readonly homeDir?: string;
  /** known_hosts files, the first receives accepted keys; default `~/.ssh/known_hosts`, `/etc/ssh/ssh_known_hosts`. */
  readonly knownHostsFiles?: readonly string[];
  /** Default `strict`. `accept-new` records an unknown key, never a changed or revoked one. */
  readonly hostKeyPolicy?: HostKeyPolicy;
  /** Hash the host name of an accepted key (OpenSSH's HashKnownHosts); default false. */
  readonly hashKnownHosts?: boolean;
  /** SSH keepalive period in ms (0 disables); default 15000. The connection drops after 3 unanswered. */
  readonly keepaliveIntervalMs?: number;
  /** Limit on TCP connect + SSH handshake + authentication in ms; default 20000. */
  readonly readyTimeoutMs?: number;
  /** A stream to speak SSH over instead of a TCP connection to `host:port` (a proxy's; `proxy.ts`). */
  readonly sock?: Duplex;
}

/** Options of {@link sshConnect}: those of {@link sshExec} but the command. */
export type SshConnectOptions = Omit<SshExecOptions, "remoteCommand" | "args">;

/** How the remote command ended. */
export interface RemoteExit {
  /** Exit status, or `null` if none was reported (signal, lost connection). */
  readonly code: number | null;
  readonly signal: string | null;
  /** The tail (up to 64 KiB) of the remote stderr. */
  readonly stderr: string;
  /** Set when the connection dropped before the channel closed. */
  readonly lost: ImzError | undefined;
}

/** An exec'd remote command. */
export interface SshExecChannel {
  /** Remote stdout (read) and stdin (write). */
  readonly stream: Duplex;
  /** The exact command line sent. */
  readonly command: string;
  /** Remote stderr received so far (tail, up to 64 KiB). */
  stderr(): string;
  /** Resolves when the channel closes; never rejects. */
  readonly exit: Promise<RemoteExit>;
  /** Closes the channel and the connection; resolves when the socket is closed. */
  close(): Promise<void>;
}

const STDERR_TAIL = 64 * 1024;

/** Connects, verifies the host, authenticates and execs the command. */
export async function sshExec(options: SshExecOptions): Promise<SshExecChannel> {
  const command = [options.remoteCommand ?? DEFAULT_REMOTE_COMMAND, ...(options.args ?? []).map(shellQuote)].join(" ");
  const client = await sshConnect(options);
  return openChannel(client, command, `${options.user}@${options.host}:${options.port ?? 22}`);
}

/** Connects (over `sock` when given), verifies the host key and authenticates; resolves with the ready client. */
export async function sshConnect(options: SshConnectOptions): Promise<Client> {
  const port = options.port ?? 22;
  const home = options.homeDir ?? homedir();
  const knownFiles = options.knownHostsFiles ?? [join(home, ".ssh", "known_hosts"), "/etc/ssh/ssh_known_hosts"];
  const known = await Promise.all(knownFiles.map(readKnownHosts));
  const auth = await authMethods(options, home);
  const where = `${options.user}@${options.host}:${port}`;

  const client = new (ssh2().Client)();
  let hostError: ImzError | undefined;
  const agentErrors: string[] = [];
  const config: ConnectConfig = {
    host: options.host,
    port,
    ...(options.sock ? { sock: options.sock } : {}),
    username: options.user,
    authHandler: auth.methods,
    keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
    keepaliveCountMax: 3,
    readyTimeout: options.readyTimeoutMs ?? 20_000,
    algorithms: { serverHostKey: preferredHostKeyAlgorithms(known, options.host, port) },
    hostVerifier: (key: Buffer, verify: (valid: boolean) => void): void => {
      const verdict = checkHostKey(known, options.host, port, key);
      if (verdict.status === "unknown" && options.hostKeyPolicy === "accept-new") {
        const line = formatKnownHostsLine(options.host, port, key, options.hashKnownHosts);
        appendKnownHost(knownFiles[0] ?? join(home, ".ssh", "known_hosts"), line).then(
          () => verify(true),
          (cause: unknown) => {
            hostError = new ImzError("IO", `cannot record the host key of ${options.host}`, { cause });
            verify(false);
          },
        );
        return;
      }
      hostError = hostKeyError(verdict, options.host, port, key, knownFiles);
      verify(hostError === undefined);
    },
  };

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error & { level?: string }): void => {
      if (err.level === "agent") {
        agentErrors.push(err.message);
        return;
      }
      client.removeListener("ready", onReady);
      client.end();
      reject(connectError(err, hostError, where, [...auth.tried, ...agentErrors]));
    };
    const onReady = (): void => {
      client.removeListener("error", onError);
      // Requests and replies are small frames, one per file: without TCP_NODELAY, Nagle's algorithm
      // and delayed ACKs hold each one back (tens of ms per round trip).
      client.setNoDelay(true);
      resolve();
    };
    client.on("error", onError).once("ready", onReady).connect(config);
  });
  return client;
}

interface AuthPlan {
  readonly methods: AnyAuthMethod[];
  /** Descriptions of what will be tried, for the AUTH_FAILED message. */
  readonly tried: string[];
}

async function authMethods(options: SshConnectOptions, home: string): Promise<AuthPlan> {
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const agent = options.agent === undefined ? process.env["SSH_AUTH_SOCK"] : options.agent;
  if (agent) {
    methods.push({ type: "agent", username: options.user, agent });
    tried.push(`agent ${agent}`);
  }
  const explicit = options.identityFiles !== undefined;
  const files = options.identityFiles ?? ["id_ed25519", "id_ecdsa", "id_rsa"].map((n) => join(home, ".ssh", n));
  for (const file of files) {
    // Like OpenSSH: an unreadable key file is skipped (and named if it was asked for).
    const text = await readFile(file).catch((err: NodeJS.ErrnoException) => err);
    if (text instanceof Error) {
      if (explicit || text.code !== "ENOENT") tried.push(`${file} (skipped: ${text.code ?? text.message})`);
      continue;
    }
    const key = ssh2().utils.parseKey(text);
    if (key instanceof Error) {
      tried.push(`${file} (skipped: ${key.message}; load encrypted keys into ssh-agent)`);
      continue;
    }
    methods.push({ type: "publickey", username: options.user, key });
    tried.push(file);
  }
  if (methods.length === 0) {
    throw new ImzError("AUTH_FAILED", `no SSH credentials for ${options.user}@${options.host}: ${tried.join(", ") || "no agent, no key files"}`, {
      hint: "start ssh-agent (SSH_AUTH_SOCK), create ~/.ssh/id_ed25519, or pass -i KEYFILE",
    });
  }
  return { methods, tried };
}

function connectError(err: Error & { level?: string }, hostError: ImzError | undefined, where: string, tried: string[]): ImzError {
  if (hostError) return hostError;
  if (err.level === "client-authentication") {
    return new ImzError("AUTH_FAILED", `Permission denied (publickey) for ${where}; tried: ${tried.join(", ")}`, {
      hint: "add your public key to the remote authorized_keys, load it into ssh-agent, or pass -i KEYFILE",
      cause: err,
    });
  }
  return new ImzError("CONNECTION_LOST", `cannot connect to ${where}: ${err.message}`, {
    hint: "check the host name and port, and that the SSH server is running",
    cause: err,
  });
}

function openChannel(client: Client, command: string, where: string): Promise<SshExecChannel> {
  return new Promise((resolve, reject) => {
    let closing = false;
    const socketClosed = new Promise<void>((done) => client.once("close", () => done()));
    const lostError = (why: string): ImzError =>
      new ImzError("CONNECTION_LOST", `connection to ${where} lost: ${why}`, {
        hint: "check the network; rerun to resume",
      });
    let lost: ImzError | undefined;
    client.on("error", (err) => {
      lost ??= lostError(err.message);
    });
    client.once("close", () => {
      lost ??= closing ? undefined : lostError("the server closed the connection");
    });
    client.exec(command, (err, channel: ClientChannel) => {
      if (err) {
        client.end();
        reject(
          lost ??
            new ImzError("REMOTE_ERROR", `${where} refused to run ${JSON.stringify(command)}: ${err.message}`, {
              hint: "the server only runs intermezzo; check --remote-command and the file set name",
              cause: err,
            }),
        );
        return;
      }
      let stderr = "";
      channel.stderr.setEncoding("utf8");
      channel.stderr.on("data", (text: string) => {
        stderr = (stderr + text).slice(-STDERR_TAIL);
      });
      let code: number | null = null;
      let signal: string | null = null;
      channel.on("exit", (c: number | null, s?: string) => {
        code = c;
        signal = s ?? null;
      });
      let channelClosed = false;
      const exit = new Promise<RemoteExit>((done) =>
        channel.once("close", () => {
          channelClosed = true;
          done({ code, signal, stderr, lost });
        }),
      );
      client.once("close", () => {
        if (closing || channelClosed || lost === undefined) return;
        // ssh2's Channel#destroy() drops its argument; Node's stream destroy emits the error.
        Duplex.prototype.destroy.call(channel, lost);
      });
      resolve({
        stream: channel,
        command,
        stderr: () => stderr,
        exit,
        close: async () => {
          closing = true;
          client.end();
          await socketClosed;
        },
      });
    });
  });
}

/** What shells print for a missing program (bash, dash, zsh, csh, fish); most also exit 127. */
const NOT_FOUND = /command not found|^\S+: \d+: \S+: not found|unknown command/im;

/**
 * The error to report when the remote stream ended before the protocol handshake:
 * `CONNECTION_LOST` if the connection dropped, `REMOTE_NOT_FOUND` when the command is
 * missing (exit 127, or "not found" on stderr), otherwise `REMOTE_ERROR` with the stderr.
 */
export function explainRemoteExit(exit: RemoteExit, command: string): ImzError {
  if (exit.lost) return exit.lost;
  const detail = exit.stderr.trim().split("\n").slice(-5).join("\n");
  const status = exit.code !== null ? `exit status ${exit.code}` : `signal ${exit.signal ?? "unknown"}`;
  if (exit.code === 127 || (exit.code !== 0 && NOT_FOUND.test(exit.stderr))) {
    return new ImzError("REMOTE_NOT_FOUND", `remote command ${JSON.stringify(command)} not found (${status}): ${detail}`, {
      hint: "install intermezzo on the remote host, or point --remote-command at it",
    });
  }
  return new ImzError("REMOTE_ERROR", `remote command ${JSON.stringify(command)} ended before the handshake (${status})${detail ? `: ${detail}` : ""}`, {
    hint: "run the command over ssh by hand to see its output",
  });
}
