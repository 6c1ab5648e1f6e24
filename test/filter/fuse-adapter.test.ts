/** The adapter's one error boundary: every thrown value becomes a negative errno. */
import assert from "node:assert/strict";
import os from "node:os";
import { it } from "node:test";
import { ImzError } from "../../src/errors.js";
import { toErrno } from "../../src/filter/fuse-adapter.js";
import { errnoError } from "../../src/filter/presto-support.js";

it("maps errno names, ImzError codes and anything else to -errno", () => {
  const e = os.constants.errno;
  const rows: Array<[unknown, number]> = [
    [errnoError("ENOENT"), -e.ENOENT],
    [errnoError("ENOTEMPTY"), -e.ENOTEMPTY],
    [Object.assign(new Error("x"), { code: "EXDEV" }), -e.EXDEV],
    [new ImzError("PATH_UNSAFE", "outside the tree"), -e.EPERM],
    [new ImzError("UNSUPPORTED", "no"), -e.EOPNOTSUPP],
    [new ImzError("HASH_MISMATCH", "bad"), -e.EIO],
    [Object.assign(new Error("x"), { code: "NOT_AN_ERRNO" }), -e.EIO],
    [new Error("plain"), -e.EIO],
    [undefined, -e.EIO],
  ];
  for (const [err, want] of rows) assert.equal(toErrno(err), want, String((err as { code?: string } | undefined)?.code ?? err));
});
