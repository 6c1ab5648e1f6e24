/**
 * The remembered digest of an unchanged directory (`Fsdb.matchesWhole`, schema 8's `dir_wholes`):
 * a match is remembered, and any change to a row under the directory — an insert, an update of a
 * compared column, a delete, a move out by REPLACE — forgets it, so the scanner never takes an
 * unchanged directory's shortcut past rows that no longer describe the disk.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { scan } from "../../src/filter/scanner.js";
import { walkDir } from "../../src/filter/walk.js";
import { openDb, SCHEMA_VERSION } from "../../src/journal/db.js";
import { FileSet } from "../../src/journal/fileset.js";
import { tempDir } from "../helpers/tree.js";

/** How many directories have a remembered digest. */
const remembered = (set: FileSet): number => set.db.prepare<[], number>(`SELECT count(*) FROM dir_wholes`).pluck().get()!;

/**
 * What the walk digests for a whole text `name/print/name/print…` (`native/walk.cc` `Digest`): per
 * entry its name, a NUL, its kind and the print's eight numbers as 64-bit little-endian, the first
 * 32 bytes of the BLAKE2b-512 of it all.
 */
function binaryDigest(whole: string): Buffer {
  const parts = whole.split("/");
  const h = createHash("blake2b512");
  for (let i = 0; i < parts.length; i += 2) {
    const [kind, ...numbers] = parts[i + 1]!.split(":");
    const fields = Buffer.alloc(1 + 8 * 8);
    fields.write(kind!, 0, "latin1");
    numbers.forEach((n, k) => fields.writeBigInt64LE(BigInt(n), 1 + 8 * k));
    h.update(Buffer.concat([Buffer.from(parts[i]!), Buffer.from([0]), fields]));
  }
  return h.digest().subarray(0, 32);
}

describe("remembered unchanged directories (dir_wholes)", () => {
  it("remembers a match and forgets it when a row under the directory is inserted, changed, moved out or deleted", async () => {
    const root = tempDir("imz-wholes-");
    try {
      fs.mkdirSync(path.join(root, "a"));
      fs.mkdirSync(path.join(root, "b"));
      for (const n of ["x", "y", "z"]) fs.writeFileSync(path.join(root, "a", n), n);
      const set = FileSet.init(root, { role: "replica" });
      try {
        await scan(set);
        const a = set.fsdb.childFid("root", "a")!;
        const b = set.fsdb.childFid("root", "b")!;
        const listing = await walkDir(path.join(root, "a"));
        const whole = listing.whole!;
        const digest = listing.wholeDigest!;
        assert.deepEqual(digest, binaryDigest(whole), "the walk's digest is of its whole text's fields in binary");
        const remember = (): void => {
          assert.equal(set.fsdb.matchesWhole(a, digest, () => whole), true);
          assert.equal(set.db.prepare(`SELECT 1 FROM dir_wholes WHERE fid = ?`).pluck().get(a), 1);
        };
        const forgotten = (what: string): void => assert.equal(set.db.prepare(`SELECT 1 FROM dir_wholes WHERE fid = ?`).pluck().get(a), undefined, what);

        remember();
        assert.equal(set.fsdb.matchesWhole(a, Buffer.alloc(32), () => `${whole}x`), false, "another digest and text never match");
        const x = set.fsdb.child(a, "x")!;
        set.fsdb.setVersion(x.fid, "ff:9");
        assert.equal(set.fsdb.matchesWhole(a, digest, () => whole), true, "a version stamp is not part of the text: still remembered");

        set.fsdb.put({ ...x, mode: 0o600 });
        forgotten("a changed row (REPLACE in place)");
        assert.equal(set.fsdb.matchesWhole(a, digest, () => whole), false, "the text of the rows no longer matches");
        set.fsdb.put(x);
        remember();

        set.fsdb.setLocal(x.fid, "1:1", x.ctimeNs);
        forgotten("an update of a compared column");
        set.fsdb.setLocal(x.fid, x.ino!, x.ctimeNs);
        remember();

        set.fsdb.put({ ...x, parent: b });
        forgotten("a row moved to another directory");
        set.fsdb.put(x);
        remember();

        set.fsdb.put({ ...x, fid: "new:1", name: "w" });
        forgotten("a new row");
        set.fsdb.delete("new:1");
        remember();

        set.fsdb.delete(x.fid);
        forgotten("a deleted row");
      } finally {
        set.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("a row changed after the directory was remembered: the next scan compares it and journals the disk's state", async () => {
    const root = tempDir("imz-wholes-");
    try {
      fs.mkdirSync(path.join(root, "d"));
      fs.writeFileSync(path.join(root, "d", "f"), "one");
      fs.chmodSync(path.join(root, "d", "f"), 0o644);
      const set = FileSet.init(root, { role: "replica" });
      try {
        await scan(set);
        await scan(set); // the second finds d unchanged and remembers it
        assert.ok(remembered(set) >= 1);
        assert.equal(set.db.prepare(`SELECT 1 FROM dir_wholes WHERE fid = 'root'`).pluck().get(), 1, "the root too: the walk leaves its .intermezzo out");
        const d = set.fsdb.childFid("root", "d")!;
        const f = set.fsdb.child(d, "f")!;
        // the row says 0600 while the disk still says 0644: only a comparison of the rows can tell
        set.fsdb.put({ ...f, mode: 0o600 });
        const before = set.cml.count();
        await scan(set);
        assert.equal(set.fsdb.must(f.fid).mode, 0o644, "the scan put the disk's mode back into the row");
        assert.ok(set.cml.count() > before, "and journaled the change");
      } finally {
        set.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("an unchanged directory's few subdirectories are walked with their remembered digests: unchanged ones are skipped, a changed one is journaled", async () => {
    const root = tempDir("imz-wholes-");
    try {
      for (const d of ["a", "b"]) {
        fs.mkdirSync(path.join(root, d, "deep"), { recursive: true });
        for (const n of ["x", "y"]) fs.writeFileSync(path.join(root, d, "deep", n), `${d}${n}`);
      }
      const set = FileSet.init(root, { role: "replica" });
      try {
        await scan(set);
        await scan(set); // every directory remembered unchanged
        const a = set.fsdb.childFid("root", "a")!;
        assert.deepEqual(set.fsdb.subdir("root", "a"), [a, set.fsdb.wholeDigest(a)]);
        assert.ok(set.fsdb.wholeDigest(a) !== undefined);
        fs.writeFileSync(path.join(root, "b", "deep", "y"), "changed");
        const report = await scan(set);
        assert.equal(report.records, 1);
        const deep = set.fsdb.childFid(set.fsdb.childFid("root", "b")!, "deep")!;
        assert.equal(set.fsdb.child(deep, "y")!.size, "changed".length);
        assert.equal((await scan(set)).records, 0, "and the next scan finds nothing");
        assert.equal(report.examined, (await scan(set)).examined, "every entry counted either way");
      } finally {
        set.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("an unchanged directory with many subdirectories enters each with its own fid (looked up together)", async () => {
    const root = tempDir("imz-wholes-");
    try {
      for (let i = 0; i < 12; i++) {
        fs.mkdirSync(path.join(root, `s${i}`));
        fs.writeFileSync(path.join(root, `s${i}`, "f"), `v${i}`);
      }
      fs.writeFileSync(path.join(root, "top"), "t");
      const set = FileSet.init(root, { role: "replica" });
      try {
        await scan(set);
        await scan(set); // remembers the root (and each s<i>) unchanged
        const fids = set.fsdb.subdirFids("root");
        assert.equal(fids.size, 12);
        for (let i = 0; i < 12; i++) assert.deepEqual(fids.get(`s${i}`), [set.fsdb.childFid("root", `s${i}`), set.fsdb.wholeDigest(set.fsdb.childFid("root", `s${i}`)!) ?? null]);
        for (const i of [3, 10]) fs.writeFileSync(path.join(root, `s${i}`, "f"), `changed ${i}`);
        const report = await scan(set); // the root matches its digest: its subdirectories come from subdirFids
        assert.equal(report.records, 2);
        for (const i of [3, 10]) {
          const f = set.fsdb.child(set.fsdb.childFid("root", `s${i}`)!, "f")!;
          assert.equal(f.size, `changed ${i}`.length, `s${i}/f journaled under its own directory`);
        }
      } finally {
        set.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("migrates schema 9 to 10: the insert trigger is gone, and Fsdb.put forgets in its place", () => {
    const root = tempDir("imz-wholes-");
    try {
      const set = FileSet.init(root, { role: "replica" });
      try {
        const trigger = (): number => set.db.prepare<[], number>(`SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'dir_wholes_insert'`).pluck().get()!;
        assert.equal(trigger(), 0, "a new database has no insert trigger");
        set.db.prepare(`INSERT INTO dir_wholes (fid, digest) VALUES ('root', x'00'), ('other', x'00')`).run();
        const root0 = set.fsdb.must("root");
        set.fsdb.put({ ...root0, fid: "ab:1", parent: "root", name: "n", type: "f" });
        assert.deepEqual(set.db.prepare(`SELECT fid FROM dir_wholes`).pluck().all(), ["other"], "the directory an inserted row joins");
        set.db.prepare(`INSERT INTO dir_wholes (fid, digest) VALUES ('root', x'00')`).run();
        set.fsdb.put({ ...set.fsdb.must("ab:1"), parent: "other" });
        assert.equal(remembered(set), 0, "a REPLACE that moves a row: the directory it left and the one it joined");
      } finally {
        set.close();
      }
      // a schema-9 database: its trigger goes at the next open
      const file = path.join(root, ".intermezzo", "fileset.db");
      const old = openDb(file, false);
      old.exec(`CREATE TRIGGER dir_wholes_insert BEFORE INSERT ON objects BEGIN
        DELETE FROM dir_wholes WHERE fid IN (NEW.parent, (SELECT parent FROM objects WHERE fid = NEW.fid));
      END; PRAGMA user_version = 9;`);
      old.close();
      const db = openDb(file, false);
      try {
        assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
        assert.equal(db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'dir_wholes_insert'`).pluck().get(), 0);
      } finally {
        db.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("migrates schema 7 to 8: the table and its triggers are made, the rows kept", () => {
    const dir = tempDir("imz-wholes-");
    const file = path.join(dir, "fileset.db");
    try {
      const old = openDb(file, true);
      old.exec(`DROP TRIGGER dir_wholes_update; DROP TRIGGER dir_wholes_delete; DROP TABLE dir_wholes;
        INSERT INTO objects (fid, type, parent, name) VALUES ('root', 'd', NULL, ''), ('ab:1', 'f', 'root', 'f.txt');
        PRAGMA user_version = 7;`);
      old.close();
      const db = openDb(file, false);
      try {
        assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
        assert.equal(db.prepare(`SELECT count(*) FROM objects`).pluck().get(), 2);
        db.prepare(`INSERT INTO dir_wholes (fid, digest) VALUES ('root', x'00')`).run();
        db.prepare(`UPDATE objects SET size = 5 WHERE fid = 'ab:1'`).run();
        assert.equal(db.prepare(`SELECT count(*) FROM dir_wholes`).pluck().get(), 0, "the update trigger forgot root");
      } finally {
        db.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
