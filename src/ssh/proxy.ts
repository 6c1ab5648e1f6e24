/**
 * The route to an SSH target when ssh config names a proxy: `ProxyCommand` (the command's stdin and
 * stdout are the connection, as OpenSSH runs it: `sh -c`, stderr passed through) or `ProxyJump` (an
 * SSH connection to the jump host, then a `direct-tcpip` channel from it to the target — ssh2's
 * `forwardOut` — recursively: each hop is resolved through ssh config and reached by its own route,
 * and the hops of a list are reached one through the other, first hop first). Host keys of every hop
 * are checked against known_hosts like the target's.
 */
import { spawn } from "node:child_process";
import { Duplex } from "node:stream";
import type { Client } from "ssh2";
import { ImzError } from "../errors.js";
import { resolveSshTarget, type SshConfigSource, type SshTarget } from "./ssh-config.js";
import { sshConnect, type SshConnectOptions } from "./ssh-exec.js";

/** Options for reaching jump hosts (their own host, port, user, keys and proxy come from ssh config). */
export type RouteOptions = Omit<SshConnectOptions, "host" | "port" | "user" | "identityFiles" | "sock"> & {
  readonly sshConfig?: SshConfigSource;
};

/** Most hops one route may take (a ProxyJump that names itself would never end). */
const MAX_HOPS = 8;

/**
 * A stream to speak SSH to `target` over, or `undefined` when it is reached directly (TCP).
 * The stream's end closes whatever carried it (the proxy command, the jump connections).
 */
export async function openRoute(target: SshTarget, options: RouteOptions, hops = 0): Promise<Duplex | undefined> {
  if (target.proxyCommand !== undefined) return proxyCommand(target.proxyCommand);
  if (target.proxyJump === undefined) return undefined;
  if (hops >= MAX_HOPS) {
    throw new ImzError("SSH_CONFIG", `ProxyJump for ${target.alias} takes more than ${MAX_HOPS} hops`, { hint: "look for a ProxyJump that leads back to itself" });
  }
  const hopList = target.proxyJump;
  const last = parseHop(hopList[hopList.length - 1]!);
  const resolved = await resolveSshTarget(last.host, { user: last.user, port: last.port }, options.sshConfig);
  // The hops before the last are its route (OpenSSH's semantics); a single hop keeps its own config's proxy.
  const jump: SshTarget = hopList.length > 1 ? { ...resolved, proxyJump: hopList.slice(0, -1), proxyCommand: undefined } : resolved;
  const sock = await openRoute(jump, options, hops + 1);
  const client = await sshConnect({
    ...options,
    host: jump.hostName,
    port: jump.port,
    user: jump.user,
    identityFiles: jump.identityFiles.length > 0 ? jump.identityFiles : undefined,
    knownHostsFiles: options.knownHostsFiles ?? jump.knownHostsFiles,
    agent: options.agent !== undefined ? options.agent : jump.agent,
    ...(sock ? { sock } : {}),
  });
  try {
    const stream = await forwardOut(client, target.hostName, target.port);
    stream.once("close", () => client.end());
    return stream;
  } catch (err) {
    client.end();
    throw new ImzError("CONNECTION_LOST", `jump host ${jump.user}@${jump.hostName}:${jump.port} could not reach ${target.hostName}:${target.port}: ${(err as Error).message}`, {
      hint: "check the target's HostName and Port as the jump host sees them, and that it allows TCP forwarding",
      cause: err,
    });
  }
}

/** One `ProxyJump` hop: `[user@]host[:port]` or `ssh://[user@]host[:port]` (an IPv6 host in brackets). */
export function parseHop(hop: string): { user?: string; host: string; port?: number } {
  const m = /^(?:ssh:\/\/)?(?:([^@/]+)@)?(\[[^\]]+\]|[^:@/[\]]+)(?::(\d+))?\/?$/.exec(hop);
  if (!m) throw new ImzError("SSH_CONFIG", `bad ProxyJump hop ${JSON.stringify(hop)}`, { hint: "write each hop as [user@]host[:port], separated by commas" });
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) throw new ImzError("SSH_CONFIG", `bad port in ProxyJump hop ${JSON.stringify(hop)}`);
  return { ...(m[1] ? { user: m[1] } : {}), host: m[2]!.replace(/^\[|\]$/g, ""), ...(port ? { port } : {}) };
}

function forwardOut(client: Client, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.forwardOut("127.0.0.1", 0, host, port, (err, stream) => (err ? reject(err) : resolve(stream)));
  });
}

/** Runs `command` with `sh -c`; its stdout and stdin are the stream. Ending the stream ends the command. */
function proxyCommand(command: string): Duplex {
  const child = spawn("/bin/sh", ["-c", command], { stdio: ["pipe", "pipe", "inherit"] });
  const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  };
  stream.once("close", stop);
  child.once("error", (err) => stream.destroy(new ImzError("CONNECTION_LOST", `ProxyCommand ${JSON.stringify(command)} failed: ${err.message}`, { cause: err })));
  return stream;
}
