/**
 * The one call the sync engine makes to reach a remote endpoint: resolve the host through
 * ssh config, open its route (ProxyJump / ProxyCommand, `proxy.ts`), connect with {@link sshExec}, and exec `intermezzo serve --stdio ARG`, where
 * ARG is the remote path (`[user@]host:path`, `ssh://…`) or the file set name (`imz://…`,
 * served by Lento's listener, which accepts nothing else).
 */
import type { LentoEndpoint, SshEndpoint } from "./remote-path.js";
import { openRoute } from "./proxy.js";
import { resolveSshTarget } from "./ssh-config.js";
import type { SshConfigSource } from "./ssh-config.js";
import { sshExec } from "./ssh-exec.js";
import type { SshExecChannel, SshExecOptions } from "./ssh-exec.js";

/** Options of {@link openRemote}: those of {@link sshExec} the endpoint and ssh config do not decide. */
export interface OpenRemoteOptions extends Omit<SshExecOptions, "host" | "port" | "user" | "args"> {
  /** Where ssh config is read from; its `homeDir` is also the default for `homeDir`. */
  readonly sshConfig?: SshConfigSource;
}

/** Connects to a remote endpoint and execs the serve command for it. */
export async function openRemote(endpoint: SshEndpoint | LentoEndpoint, options: OpenRemoteOptions = {}): Promise<SshExecChannel> {
  const { sshConfig, ...exec } = options;
  const target = await resolveSshTarget(
    endpoint.host,
    { user: endpoint.user, port: endpoint.port, identityFiles: options.identityFiles },
    sshConfig,
  );
  const homeDir = options.homeDir ?? sshConfig?.homeDir;
  const knownHostsFiles = options.knownHostsFiles ?? target.knownHostsFiles;
  const agent = options.agent !== undefined ? options.agent : target.agent;
  const readyTimeoutMs = options.readyTimeoutMs ?? target.connectTimeoutMs;
  const common = { ...exec, homeDir, knownHostsFiles, agent, readyTimeoutMs };
  const sock = await openRoute(target, { ...common, ...(sshConfig ? { sshConfig } : {}) });
  return sshExec({
    ...common,
    ...(sock ? { sock } : {}),
    host: target.hostName,
    port: target.port,
    user: target.user,
    identityFiles: target.identityFiles.length > 0 ? target.identityFiles : undefined,
    args: [endpoint.kind === "ssh" ? endpoint.path : endpoint.fileset],
  });
}
