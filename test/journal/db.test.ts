import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { openDb, SCHEMA_VERSION } from "../../src/journal/db.js";
import { tempDir } from "../helpers/tree.js";

describe("file set database schema", () => {
  it("migrates a database of the previous schema, keeping its rows, and refuses a newer one", () => {
    const dir = tempDir("imz-db-");
    const file = path.join(dir, "fileset.db");
    try {
      const old = openDb(file, true);
      old.prepare(`INSERT INTO meta (key, value) VALUES ('name', 'kept')`).run();
      // schema 3 is schema 4 without the unapplied table
      old.exec(`DROP TABLE unapplied; PRAGMA user_version = 3;`);
      old.close();

      const db = openDb(file, false);
      assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
      assert.equal(db.prepare<[], { value: string }>(`SELECT value FROM meta WHERE key = 'name'`).get()?.value, "kept");
      db.prepare(`INSERT INTO unapplied (fid) VALUES ('f1')`).run();
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      db.close();

      assert.throws(() => openDb(file, false), (err: unknown) => isImzError(err) && err.code === "SCHEMA_VERSION");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
