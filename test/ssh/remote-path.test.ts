import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { parseEndpoint } from "../../src/ssh/remote-path.js";
import type { Endpoint } from "../../src/ssh/remote-path.js";

const ssh = (user: string | undefined, host: string, port: number | undefined, path: string): Endpoint => ({ kind: "ssh", user, host, port, path });
const local = (path: string): Endpoint => ({ kind: "local", path });

describe("parseEndpoint", () => {
  const good: [string, Endpoint][] = [
    ["/srv/www", local("/srv/www")],
    ["relative/dir", local("relative/dir")],
    ["./a:b", local("./a:b")],
    ["/x/a:b", local("/x/a:b")],
    ["dir/with:colon", local("dir/with:colon")],
    ["me@box", local("me@box")],
    ["box:/srv/www", ssh(undefined, "box", undefined, "/srv/www")],
    ["box:www", ssh(undefined, "box", undefined, "www")],
    ["box:", ssh(undefined, "box", undefined, ".")],
    ["alice@box:/srv/a:b", ssh("alice", "box", undefined, "/srv/a:b")],
    ["alice@[::1]:/srv", ssh("alice", "::1", undefined, "/srv")],
    ["a.b@box:p@q", ssh("a.b", "box", undefined, "p@q")],
    ["ssh://box/srv/www", ssh(undefined, "box", undefined, "/srv/www")],
    ["ssh://alice@box:2222/srv/www", ssh("alice", "box", 2222, "/srv/www")],
    ["ssh://[::1]:2222/srv", ssh(undefined, "::1", 2222, "/srv")],
    ["ssh://box", ssh(undefined, "box", undefined, ".")],
    ["ssh://box/my%20dir", ssh(undefined, "box", undefined, "/my dir")],
    ["SSH://box/x", ssh(undefined, "box", undefined, "/x")],
    ["imz://box:7022/docs", { kind: "lento", user: undefined, host: "box", port: 7022, fileset: "docs" }],
    ["imz://bob@10.0.0.2:7022/web.v2", { kind: "lento", user: "bob", host: "10.0.0.2", port: 7022, fileset: "web.v2" }],
  ];
  for (const [arg, expected] of good) {
    it(`parses ${arg}`, () => assert.deepEqual(parseEndpoint(arg), expected));
  }

  const bad = [
    "",
    "@box:/x",
    ":/x",
    "box::module",
    "ftp://box/x",
    "ssh://:22/x",
    "ssh://a:pw@box/x",
    "ssh://box:99999/x",
    "ssh://box/x?y",
    "imz://box/docs",
    "imz://box:7022/",
    "imz://box:7022/a/b",
    "imz://box:7022/..",
    "imz://box:7022/%zz",
    "a\0b",
  ];
  for (const arg of bad) {
    it(`refuses ${JSON.stringify(arg)} with USAGE and a hint`, () => {
      assert.throws(
        () => parseEndpoint(arg),
        (err: unknown) => isImzError(err, "USAGE") && typeof err.hint === "string",
      );
    });
  }
});
