/** librsync's own messages go to the project's logger (and into error messages), never to stderr. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { isImzError } from "../../src/errors.js";
import { patchBuffer, setRsyncLogger, signatureBuffer } from "../../src/sync/delta/index.js";
import { seededBytes } from "./helpers.js";

test("messages reach the logger with their level; the error carries librsync's reason", async () => {
  const seen: Array<[number, string]> = [];
  setRsyncLogger((level, message) => seen.push([level, message]));
  try {
    const err = await patchBuffer(seededBytes(1, 100), Buffer.from("definitely not a delta")).catch((e: unknown) => e);
    assert.ok(isImzError(err, "RS_BAD_MAGIC"));
    assert.match(err.message, /got magic number 0x64656669/);
    assert.ok(seen.some(([level, message]) => level === 3 && /rs_patch_s_header/.test(message)), JSON.stringify(seen));

    // A strong sum below librsync's recommended minimum is a warning (level 4), not an error.
    seen.length = 0;
    await signatureBuffer(seededBytes(2, 1 << 20), { blockLength: 256, strongLength: 1 });
    assert.ok(seen.some(([level, message]) => level === 4 && /strong_len=1 smaller than recommended/.test(message)), JSON.stringify(seen));
  } finally {
    setRsyncLogger(null);
  }
});
