/**
 * Reaching a holder the way a remote user does, for end-to-end tests: a client home (known_hosts,
 * user key, empty ssh config) for a test sshd, the absolute remote command that runs this checkout's
 * `bin/intermezzo serve --stdio`, and Lento's listener run as a real `bin/intermezzo serve --listen`
 * child on a port it picks itself (it reports `imz://host:port/NAME` on stderr).
 *
 * Everything started here is stopped by its pid in `stop()`.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { OpenRemoteOptions } from "../../src/ssh/open-remote.js";
import { IMZ_BIN } from "./cli.js";
import type { TestSshd } from "./sshd.js";

/** `node /abs/bin/intermezzo serve --stdio`: the remote command every SSH test runs. */
export const REMOTE_SERVE = `${process.execPath} ${IMZ_BIN} serve --stdio`;

/** A client's home directory for one sshd: `.ssh/known_hosts` trusting it, and no ssh config. */
export interface ClientHome {
  dir: string;
  knownHosts: string;
  /** The user key sshd accepts. */
  key: string;
  /** Environment for a CLI child: HOME is this home, no ssh-agent. */
  env: NodeJS.ProcessEnv;
  /** Options for `connectRemote` that use only this home. */
  remote(extra?: Partial<OpenRemoteOptions>): OpenRemoteOptions;
}

/** Creates `dir` as a client home that trusts `sshd`'s host key (and `extraKnown` lines). */
export function clientHome(dir: string, sshd: TestSshd, extraKnown: string[] = []): ClientHome {
  fs.mkdirSync(path.join(dir, ".ssh"), { recursive: true, mode: 0o700 });
  const knownHosts = path.join(dir, ".ssh", "known_hosts");
  fs.writeFileSync(knownHosts, [sshd.knownHostsLine, ...extraKnown, ""].join("\n"));
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir };
  delete env["SSH_AUTH_SOCK"];
  return {
    dir,
    knownHosts,
    key: sshd.userKeyPath,
    env,
    remote: (extra = {}) => ({
      sshConfig: { homeDir: dir },
      homeDir: dir,
      knownHostsFiles: [knownHosts],
      identityFiles: [sshd.userKeyPath],
      agent: null,
      remoteCommand: REMOTE_SERVE,
      ...extra,
    }),
  };
}

/** A running `bin/intermezzo serve --listen` child. */
export interface ListenerChild {
  /** The child's process id (for a test that kills it some other way than `stop()`). */
  pid: number;
  port: number;
  /** `[127.0.0.1]:port ssh-ed25519 …` for a client's known_hosts. */
  knownHostsLine: string;
  /** Names the listener serves each directory under, in the order given. */
  names: string[];
  /** What the child wrote to stderr so far. */
  log(): string;
  /** SIGTERM to the child's pid; waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `intermezzo serve --listen 127.0.0.1:PORT --init` for `dirs` (which must exist) with a host
 * key created under `keyDir` (kept there: a restart on the same port keeps its identity), admitting
 * the public keys in `authorizedKeys`; `wantPort` 0 picks a free one.
 */
export async function startListenerChild(dirs: string[], keyDir: string, authorizedKeys: string, wantPort = 0, extra: string[] = []): Promise<ListenerChild> {
  const hostKey = path.join(keyDir, "lento_host_key");
  const child = spawn(
    process.execPath,
    [IMZ_BIN, "serve", "--listen", `127.0.0.1:${wantPort}`, "--host-key", hostKey, "--init", "--authorized-keys", authorizedKeys, ...extra, ...dirs],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  child.stderr.setEncoding("utf8");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on("data", (text: string) => {
      log += text;
      const m = /serving imz:\/\/127\.0\.0\.1:([0-9]+)\//.exec(log);
      if (m) resolve(Number(m[1]));
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`serve --listen exited (${code}) before listening:\n${log}`)));
  });
  const names = [...log.matchAll(/imz:\/\/127\.0\.0\.1:[0-9]+\/(\S+)/g)].map((m) => m[1]!);
  const pub = fs.readFileSync(`${hostKey}.pub`, "utf8").trim();
  const pid = child.pid!;
  return {
    pid,
    port,
    knownHostsLine: `[127.0.0.1]:${port} ${pub}`,
    names,
    log: () => log,
    /** SIGTERM, and the exit awaited; a listener still up 20 s later is killed and the stop fails. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, "SIGTERM");
        const late = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 20_000).unref())]);
        if (late) {
          process.kill(pid, "SIGKILL");
          await exited;
          throw new Error(`the listener (pid ${pid}) did not stop on SIGTERM in 20 s:\n${log}`);
        }
      }
    },
  };
}
