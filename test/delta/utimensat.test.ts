/** The addon's utimensat sets nanosecond-exact times, on files and on symlinks themselves. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstat, stat, symlink, writeFile } from "node:fs/promises";
import { utimensat } from "../../src/sync/delta/index.js";
import { tempDir } from "./helpers.js";

test("file times are exact to the nanosecond, including before the epoch", async () => {
  const t = await tempDir();
  try {
    await writeFile(t.path("f"), "x");
    for (const [atime, mtime] of [
      [1_700_000_000_123_456_789n, 1_600_000_000_987_654_321n],
      [1n, 999_999_999n],
      [-1_500_000_001n, -1n],
      [4_102_444_800_000_000_001n, 4_000_000_000_000_000_007n],
    ] as const) {
      await utimensat(t.path("f"), atime, mtime, false);
      const st = await stat(t.path("f"), { bigint: true });
      assert.equal(st.atimeNs, atime);
      assert.equal(st.mtimeNs, mtime);
    }
  } finally {
    await t.cleanup();
  }
});

test("noFollow sets the symlink's own times and leaves the target alone", async () => {
  const t = await tempDir();
  try {
    await writeFile(t.path("target"), "x");
    await symlink("target", t.path("link"));
    await utimensat(t.path("target"), 1_000_000_000_000_000_001n, 1_000_000_000_000_000_002n, false);
    await utimensat(t.path("link"), 1_234_567_890_123_456_789n, 1_234_567_890_987_654_321n, true);
    const link = await lstat(t.path("link"), { bigint: true });
    assert.equal(link.mtimeNs, 1_234_567_890_987_654_321n);
    assert.equal(link.atimeNs, 1_234_567_890_123_456_789n);
    assert.equal((await stat(t.path("link"), { bigint: true })).mtimeNs, 1_000_000_000_000_000_002n);
    // Following the link changes the target instead.
    await utimensat(t.path("link"), 5n, 6n, false);
    assert.equal((await stat(t.path("target"), { bigint: true })).mtimeNs, 6n);
    assert.equal((await lstat(t.path("link"), { bigint: true })).mtimeNs, 1_234_567_890_987_654_321n);
  } finally {
    await t.cleanup();
  }
});

test("errors are Node-style errno errors", async () => {
  await assert.rejects(utimensat("/nonexistent/imz/x", 1n, 2n, false), (err: NodeJS.ErrnoException) => {
    assert.equal(err.code, "ENOENT");
    assert.equal(err.syscall, "utimensat");
    assert.equal(err.path, "/nonexistent/imz/x");
    return true;
  });
});
