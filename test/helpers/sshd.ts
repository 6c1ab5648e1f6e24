/**
 * A real OpenSSH server for tests: `/usr/sbin/sshd -D -e -f <generated config>` on a free
 * 127.0.0.1 port, with fresh host and user keys in a temp dir. Runs as the current user
 * (root in CI), which is why the config sets `PermitRootLogin prohibit-password`,
 * `StrictModes no` (temp dir permissions) and `UsePAM no`. The exec'd commands inherit
 * this process's PATH (`SetEnv`), so `node` resolves as it does here.
 *
 * Always call `stop()` (in `finally`/`after`): it kills the sshd by its pid only.
 */
import { spawn, execFile } from "node:child_process";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A running test sshd. */
export interface TestSshd {
  readonly port: number;
  /** The temp dir holding keys and config (removed by `stop()`). */
  readonly dir: string;
  /** The host public key line (`ssh-ed25519 AAAA… comment`). */
  readonly hostKeyPub: string;
  /** The host public key in SSH wire format. */
  readonly hostKey: Buffer;
  /** Private key file of a user key listed in the server's authorized_keys. */
  readonly userKeyPath: string;
  /** A known_hosts line that trusts this server (`[127.0.0.1]:port ssh-ed25519 …`). */
  readonly knownHostsLine: string;
  /** Everything sshd wrote to stderr so far (its log). */
  log(): string;
  /** Kills the sshd (by pid) and removes the temp dir. */
  stop(): Promise<void>;
}

/** Generates an unencrypted ed25519 key pair at `path` (+ `.pub`) with ssh-keygen. */
export async function sshKeygen(path: string, comment = "intermezzo-test"): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  return (await readFile(`${path}.pub`, "utf8")).trim();
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** Options of {@link startSshd}. */
export interface SshdOptions {
  /**
   * Names only this sshd resolves (name → address): it runs in a mount namespace of its own
   * (`unshare -m`, root only) with these lines added to a private `/etc/hosts`. A jump host then
   * reaches a target by a name the client cannot resolve, so a skipped proxy fails.
   */
  hosts?: Record<string, string>;
  /** `AllowTcpForwarding yes` (a jump host); default no. */
  forwarding?: boolean;
}

/** Starts sshd; retries on a new port if the chosen one was taken meanwhile. */
export async function startSshd(opts: SshdOptions = {}): Promise<TestSshd> {
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(tmpdir(), "imz-sshd-"));
  try {
    const hostKeyPub = await sshKeygen(join(dir, "host_ed25519"), "test-host");
    const userKeyPath = join(dir, "user", "id_ed25519");
    await writeFile(join(dir, "authorized_keys"), `${await sshKeygen(userKeyPath, "test-user")}\n`, { mode: 0o600 });
    for (let attempt = 0; ; attempt++) {
      try {
        return await launch(dir, hostKeyPub, userKeyPath, await freePort(), opts);
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(dir: string, hostKeyPub: string, userKeyPath: string, port: number, opts: SshdOptions): Promise<TestSshd> {
  const config = join(dir, "sshd_config");
  const path = [dirname(process.execPath), process.env["PATH"] ?? "/usr/bin:/bin"].join(":");
  await writeFile(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_ed25519")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "StrictModes no",
      "UsePAM no",
      "PidFile none",
      `AllowTcpForwarding ${opts.forwarding ? "yes" : "no"}`,
      "X11Forwarding no",
      "PrintMotd no",
      "LogLevel VERBOSE",
      `SetEnv PATH=${path}`,
      "",
    ].join("\n"),
  );
  const sshd = ["/usr/sbin/sshd", "-D", "-e", "-f", config];
  let argv = sshd;
  if (opts.hosts) {
    const hosts = join(dir, "hosts");
    const extra = Object.entries(opts.hosts).map(([name, addr]) => `${addr} ${name}`);
    await writeFile(hosts, [(await readFile("/etc/hosts", "utf8")).trimEnd(), ...extra, ""].join("\n"));
    // unshare and sh exec in place: the pid stays sshd's
    argv = ["unshare", "-m", "/bin/sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, hosts, ...sshd];
  }
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.setEncoding("utf8");
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onData = (text: string): void => {
      log += text;
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) resolve();
    };
    child.stderr.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`sshd exited (${code}) before listening:\n${log}`)));
  });
  const pid = child.pid as number;
  const [type, base64] = hostKeyPub.split(" ") as [string, string];
  return {
    port,
    dir,
    hostKeyPub,
    hostKey: Buffer.from(base64, "base64"),
    userKeyPath,
    knownHostsLine: `[127.0.0.1]:${port} ${type} ${base64}`,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, "SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
