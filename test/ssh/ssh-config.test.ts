import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { resolveSshTarget } from "../../src/ssh/ssh-config.js";

let home: string;
before(async () => {
  home = await mkdtemp(join(tmpdir(), "imz-sshcfg-"));
  await mkdir(join(home, ".ssh"));
  await writeFile(
    join(home, ".ssh", "config"),
    [
      "Host web",
      "  HostName 10.0.0.5",
      "  User deploy",
      "  Port 2222",
      "  IdentityFile ~/.ssh/web_key",
      "  IdentityFile %d/.ssh/%r@%h",
      "Host *.lan",
      "  HostName %h.example.net",
      "Host broken",
      "  Port nope",
      "Host *",
      "  User fallback",
      "  IdentityFile ~/.ssh/all",
      "",
    ].join("\n"),
  );
});
after(async () => {
  await rm(home, { recursive: true, force: true });
});

const src = (): { homeDir: string; localUser: string } => ({ homeDir: home, localUser: "me" });

describe("resolveSshTarget", () => {
  it("applies the first matching value of each setting", async () => {
    assert.deepEqual(await resolveSshTarget("web", {}, src()), {
      alias: "web",
      hostName: "10.0.0.5",
      user: "deploy",
      port: 2222,
      identityFiles: [join(home, ".ssh/web_key"), join(home, ".ssh/deploy@10.0.0.5"), join(home, ".ssh/all")],
    });
  });

  it("lets command-line values win", async () => {
    const t = await resolveSshTarget("web", { user: "root", port: 22, identityFiles: ["/k"] }, src());
    assert.equal(t.user, "root");
    assert.equal(t.port, 22);
    assert.deepEqual(t.identityFiles, ["/k"]);
    assert.equal(t.hostName, "10.0.0.5");
  });

  it("expands %h in HostName and falls back to Host *", async () => {
    const t = await resolveSshTarget("pi.lan", {}, src());
    assert.equal(t.hostName, "pi.lan.example.net");
    assert.equal(t.user, "fallback");
    assert.equal(t.port, 22);
  });

  it("uses defaults without a config file", async () => {
    const t = await resolveSshTarget("h", {}, { homeDir: home, configPath: join(home, "none"), localUser: "me" });
    assert.deepEqual(t, { alias: "h", hostName: "h", user: "me", port: 22, identityFiles: [] });
  });

  it("reports a bad Port as SSH_CONFIG", async () => {
    await assert.rejects(resolveSshTarget("broken", {}, src()), (err: unknown) => isImzError(err, "SSH_CONFIG") && err.hint !== undefined);
  });

  it("expands ProxyCommand tokens, reads the proxy and known-hosts settings, and follows nested Include", async () => {
    const cfg = join(home, "nested");
    await mkdir(join(home, ".ssh", "inc"), { recursive: true });
    await writeFile(cfg, "Include inc/a\n");
    await writeFile(join(home, ".ssh", "inc", "a"), "Host p\n  Include ~/.ssh/inc/b\n");
    await writeFile(
      join(home, ".ssh", "inc", "b"),
      "  HostName 10.1.1.1\n  User u\n  Port 2200\n  ProxyCommand nc -X 5 %h %p %r-%n-%%\n  UserKnownHostsFile ~/kh1 ~/kh2\n  IdentityAgent none\n  ConnectTimeout 7\n",
    );
    const t = await resolveSshTarget("p", {}, { homeDir: home, configPath: cfg, localUser: "me" });
    assert.equal(t.proxyCommand, "nc -X 5 10.1.1.1 2200 u-p-%");
    assert.deepEqual(t.knownHostsFiles, [join(home, "kh1"), join(home, "kh2")]);
    assert.equal(t.agent, null);
    assert.equal(t.connectTimeoutMs, 7000);
  });

  it("refuses an Include loop and ProxyJump together with ProxyCommand with SSH_CONFIG", async () => {
    const loop = join(home, ".ssh", "loop");
    await writeFile(loop, "Include loop\n");
    await assert.rejects(resolveSshTarget("x", {}, { homeDir: home, configPath: loop, localUser: "me" }), (err: unknown) => isImzError(err, "SSH_CONFIG") && /Include/.test(err.message));
    const both = join(home, "both");
    await writeFile(both, "Host x\n  ProxyJump j\n  ProxyCommand nc %h %p\n");
    await assert.rejects(resolveSshTarget("x", {}, { homeDir: home, configPath: both, localUser: "me" }), (err: unknown) => isImzError(err, "SSH_CONFIG"));
  });
});
