/**
 * A stream destroyed without an end or an error — what Lento's listener does with an SSH channel that
 * closes without EOF — ends the connection as a cut (CONNECTION_LOST). Before, the connection and
 * the holder it served waited forever (a `serve --listen` never released that replica's file set and
 * could not shut down).
 */
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { Connection } from "../../src/ssh/connection.js";

it("a destroyed input stream ends the connection with CONNECTION_LOST and fails what is in flight", async () => {
  const input = new PassThrough();
  const output = new PassThrough();
  output.resume();
  const conn = new Connection(input, output);
  const pending = conn.call({ op: "updates" });
  input.destroy();
  const why = await conn.closed;
  assert.ok(isImzError(why, "CONNECTION_LOST"), String(why));
  await assert.rejects(pending, (err: unknown) => isImzError(err, "CONNECTION_LOST"));
});
