import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { isImzError } from "../../src/errors.js";
import { openDb, SCHEMA_VERSION } from "../../src/journal/db.js";
import { Cml } from "../../src/journal/cml.js";
import { Fsdb } from "../../src/journal/fsdb.js";
import { tempDir } from "../helpers/tree.js";

describe("file set database schema", () => {
  it("migrates a database of an older schema, keeping its rows, and refuses a newer one", () => {
    const dir = tempDir("imz-db-");
    const file = path.join(dir, "fileset.db");
    try {
      const old = openDb(file, true);
      old.prepare(`INSERT INTO meta (key, value) VALUES ('name', 'kept')`).run();
      // schema 3: no unapplied table, and the replicas table without place and first_sync
      old.exec(`DROP TABLE unapplied; DROP TABLE replicas;
        CREATE TABLE replicas (replica TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, last_sync INTEGER NOT NULL) STRICT;
        INSERT INTO replicas VALUES ('abc', 7, 1000);
        PRAGMA user_version = 3;`);
      old.close();

      const db = openDb(file, false);
      assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
      assert.equal(db.prepare<[], { value: string }>(`SELECT value FROM meta WHERE key = 'name'`).get()?.value, "kept");
      db.prepare(`INSERT INTO unapplied (fid) VALUES ('f1')`).run();
      assert.deepEqual(db.prepare(`SELECT replica, last_seen, place FROM replicas`).all(), [{ replica: "abc", last_seen: 7, place: "" }]);
      db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      db.close();

      assert.throws(() => openDb(file, false), (err: unknown) => isImzError(err) && err.code === "SCHEMA_VERSION");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("migrates schema 6 to 7: each object gets an empty set of extended attributes, its row kept", () => {
    const dir = tempDir("imz-db-");
    const file = path.join(dir, "fileset.db");
    try {
      const old = openDb(file, true);
      old.exec(`ALTER TABLE objects DROP COLUMN xattrs;
        INSERT INTO objects (fid, type, parent, name, version, size, mode, hash, ino, ctime_ns)
          VALUES ('root', 'd', NULL, '', '', 0, 493, '', '1:2', '5'), ('ab:1', 'f', 'root', 'f.txt', 'ab:3', 4, 420, 'cafe', '1:3', '7');
        PRAGMA user_version = 6;`);
      old.close();

      const db = openDb(file, false);
      assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
      const fsdb = new Fsdb(db);
      const f = fsdb.get("ab:1")!;
      assert.deepEqual([f.name, f.version, f.size, f.mode, f.hash, f.ino, f.ctimeNs, f.xattrs], ["f.txt", "ab:3", 4, 0o644, "cafe", "1:3", "7", ""]);
      fsdb.put({ ...f, xattrs: '{"user.a":"MQ=="}' });
      assert.equal(fsdb.get("ab:1")!.xattrs, '{"user.a":"MQ=="}');
      db.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("migrates schema 8 to 9: a CML record keeps its seq, now its row's, and later appends follow it", () => {
    const dir = tempDir("imz-db-");
    const file = path.join(dir, "fileset.db");
    try {
      const old = openDb(file, true);
      // schema 8 stored the seq and originSeq in the body too
      const body = (seq: number, name: string): string =>
        JSON.stringify({ op: "mkdir", fid: `ab:${seq}`, time: 1, parent: "root", name, attrs: { mode: 0o755 }, seq, origin: "ab", originSeq: seq });
      old.exec(`INSERT INTO cml (seq, fid, body) VALUES (3, 'ab:3', '${body(3, "a")}'), (7, 'ab:7', '${body(7, "b")}');
        DELETE FROM cml WHERE seq = 7;
        PRAGMA user_version = 8;`);
      old.close();

      const db = openDb(file, false);
      assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
      assert.equal(db.prepare<[], string>(`SELECT body FROM cml`).pluck().get()!.includes("seq"), false);
      const cml = new Cml(db, "ab");
      const [kept] = cml.all();
      assert.deepEqual([kept?.seq, kept?.originSeq, kept?.fid, kept && "name" in kept ? kept.name : undefined], [3, 3, "ab:3", "a"]);
      // the seq is never reused: 7 was given (and dropped) before
      const next = cml.append({ op: "mkdir", fid: "ab:8", time: 2, parent: "root", name: "c", attrs: { mode: 0o755 } });
      assert.deepEqual([next.seq, next.originSeq], [8, 8]);
      assert.deepEqual(
        cml.all().map((r) => [r.seq, r.originSeq, r.fid]),
        [
          [3, 3, "ab:3"],
          [8, 8, "ab:8"],
        ],
      );
      db.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
