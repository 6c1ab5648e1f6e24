/**
 * The file set database: one SQLite file (WAL) under `<root>/.intermezzo/` holding the Fsdb, the CML,
 * the server log and the file set's identity. The schema carries a version and migrates explicitly;
 * a database newer than this program is refused, never guessed at.
 */
import type Database from "better-sqlite3";
import { ImzError } from "../errors.js";
import { onFirstUse } from "../on-first-use.js";

const sqlite = onFirstUse<typeof Database>("better-sqlite3");

/** The schema version this program writes. */
export const SCHEMA_VERSION = 10;

/** A better-sqlite3 handle. */
export type Db = Database.Database;

const MIGRATIONS: Record<number, string> = {
  1: `
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
    CREATE TABLE objects (
      fid      TEXT PRIMARY KEY,
      type     TEXT NOT NULL CHECK (type IN ('f','d','l')),
      parent   TEXT,
      name     TEXT NOT NULL,
      version  TEXT NOT NULL DEFAULT '',
      size     INTEGER NOT NULL DEFAULT 0,
      mtime_ns TEXT NOT NULL DEFAULT '0',
      mode     INTEGER NOT NULL DEFAULT 0,
      uid      INTEGER NOT NULL DEFAULT 0,
      gid      INTEGER NOT NULL DEFAULT 0,
      hash     TEXT NOT NULL DEFAULT '',
      target   TEXT,
      flags    INTEGER NOT NULL DEFAULT 0,
      ino      TEXT,
      ctime_ns TEXT
    ) STRICT;
    CREATE UNIQUE INDEX objects_name ON objects(parent, name);
    CREATE INDEX objects_ino ON objects(ino);
    CREATE TABLE cml (seq INTEGER PRIMARY KEY AUTOINCREMENT, fid TEXT NOT NULL, body TEXT NOT NULL) STRICT;
    CREATE TABLE server_log (
      volume     INTEGER PRIMARY KEY,
      origin     TEXT NOT NULL,
      origin_seq INTEGER NOT NULL,
      fid        TEXT NOT NULL,
      version    TEXT NOT NULL,
      body       TEXT NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX server_log_origin ON server_log(origin, origin_seq);
    CREATE TABLE replicas (replica TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, last_sync INTEGER NOT NULL) STRICT;
    CREATE TABLE filter_events (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT) STRICT;
  `,
  2: `CREATE INDEX cml_fid ON cml(fid);`,
  // Fsdb.byHash runs once per transferred file (a local copy source): without it, a scan of the table.
  3: `CREATE INDEX objects_hash ON objects(hash) WHERE hash != '';`,
  // Objects a replica failed to bring to the holder's version (src/sync/unapplied.ts).
  4: `CREATE TABLE unapplied (fid TEXT PRIMARY KEY) STRICT;`,
  // The holder's registered replicas (src/journal/replicas.ts): where each one is, and since when.
  5: `ALTER TABLE replicas ADD COLUMN place TEXT NOT NULL DEFAULT '';
      ALTER TABLE replicas ADD COLUMN first_sync INTEGER NOT NULL DEFAULT 0;`,
  // Special files (FIFOs, sockets, devices) are objects of type 's'. SQLite cannot change a CHECK
  // constraint in place: the table is rebuilt with the same columns, rows and indexes.
  6: `
    CREATE TABLE objects_6 (
      fid      TEXT PRIMARY KEY,
      type     TEXT NOT NULL CHECK (type IN ('f','d','l','s')),
      parent   TEXT,
      name     TEXT NOT NULL,
      version  TEXT NOT NULL DEFAULT '',
      size     INTEGER NOT NULL DEFAULT 0,
      mtime_ns TEXT NOT NULL DEFAULT '0',
      mode     INTEGER NOT NULL DEFAULT 0,
      uid      INTEGER NOT NULL DEFAULT 0,
      gid      INTEGER NOT NULL DEFAULT 0,
      hash     TEXT NOT NULL DEFAULT '',
      target   TEXT,
      flags    INTEGER NOT NULL DEFAULT 0,
      ino      TEXT,
      ctime_ns TEXT
    ) STRICT;
    INSERT INTO objects_6 SELECT fid, type, parent, name, version, size, mtime_ns, mode, uid, gid, hash, target, flags, ino, ctime_ns FROM objects;
    DROP TABLE objects;
    ALTER TABLE objects_6 RENAME TO objects;
    CREATE UNIQUE INDEX objects_name ON objects(parent, name);
    CREATE INDEX objects_ino ON objects(ino);
    CREATE INDEX objects_hash ON objects(hash) WHERE hash != '';`,
  // Each object's replicated extended attributes and ACLs (src/journal/xattrs.ts): "" for none.
  7: `ALTER TABLE objects ADD COLUMN xattrs TEXT NOT NULL DEFAULT '';`,
  // A digest of each directory's rows as the scanner last found them all unchanged
  // (\`Fsdb.matchesWhole\`); any change to a row under it forgets the digest. A REPLACE deletes the
  // row it replaces without a delete trigger, so the insert trigger forgets the old parent's too.
  8: `
    CREATE TABLE IF NOT EXISTS dir_wholes (fid TEXT PRIMARY KEY, digest BLOB NOT NULL) STRICT, WITHOUT ROWID;
    CREATE TRIGGER IF NOT EXISTS dir_wholes_insert BEFORE INSERT ON objects BEGIN
      DELETE FROM dir_wholes WHERE fid IN (NEW.parent, (SELECT parent FROM objects WHERE fid = NEW.fid));
    END;
    CREATE TRIGGER IF NOT EXISTS dir_wholes_update AFTER UPDATE OF type, parent, name, size, mtime_ns, mode, uid, gid, ino, ctime_ns ON objects BEGIN
      DELETE FROM dir_wholes WHERE fid IN (OLD.parent, NEW.parent);
    END;
    CREATE TRIGGER IF NOT EXISTS dir_wholes_delete AFTER DELETE ON objects BEGIN
      DELETE FROM dir_wholes WHERE fid = OLD.parent;
    END;`,
  // A CML record's seq and originSeq are its row's seq, no longer repeated in its body (\`Cml\`): an
  // append is a plain INSERT. An older program would read the bodies without their seq, hence a version.
  9: `UPDATE cml SET body = json_remove(body, '$.seq', '$.originSeq');`,
  // An inserted row's directories forget their digest in \`Fsdb.put\` (two plain DELETEs), not in a
  // trigger: the trigger program was about half of every row written (a first copy writes two per
  // file). Updates and deletes keep their triggers. An older program would insert without forgetting.
  10: `DROP TRIGGER IF EXISTS dir_wholes_insert;`,
};

/**
 * Opens (and, with `create`, creates) the database at `file`, bringing its schema up to
 * {@link SCHEMA_VERSION}. Throws `SCHEMA_VERSION` for a database written by a newer program.
 */
export function openDb(file: string, create: boolean): Db {
  const db = new (sqlite())(file, { fileMustExist: !create });
  opened.add(db.name);
  db.pragma("journal_mode = WAL");
  // NORMAL in WAL mode: a committed transaction survives any process crash; the database stays
  // consistent across power loss (docs/DESIGN.md "Durability").
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  // Statement journals (a statement inside a transaction that may have to undo itself alone:
  // INSERT OR REPLACE, a nested transaction's savepoint) in memory, not in /var/tmp files: a first
  // copy wrote about 34 of those pages per file (strace), most of its syscalls.
  db.pragma("temp_store = MEMORY");
  db.pragma("foreign_keys = OFF");
  migrate(db);
  return db;
}

/**
 * One `meta` value of the database at `file`, read through a read-only connection (no schema
 * check, no statements prepared, nothing written; closing it never checkpoints): what a caller
 * that only needs, say, a file set's role pays instead of opening the file set.
 */
export function peekMeta(file: string, key: string): string | undefined {
  const db = new (sqlite())(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    return db.prepare<[string], string>("SELECT value FROM meta WHERE key = ?").pluck().get(key);
  } finally {
    db.close();
  }
}

/** Paths of the databases this process opened (a few: one per file set it served). */
const opened = new Set<string>();

/** Paths of the databases this process opened, open or closed since (to name the one a `SQLITE_FULL` is about). */
export function databasePaths(): string[] {
  return [...opened];
}

function migrate(db: Db): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    db.close();
    throw new ImzError("SCHEMA_VERSION", `file set database has schema ${current}, this intermezzo knows ${SCHEMA_VERSION}`, {
      hint: "upgrade intermezzo on this host",
    });
  }
  for (let v = current + 1; v <= SCHEMA_VERSION; v++) {
    const sql = MIGRATIONS[v];
    if (sql === undefined) throw new ImzError("SCHEMA_VERSION", `no migration to schema ${v}`);
    // IMMEDIATE, and the version read again inside: several processes may open a database of an
    // older schema at once (a new holder reached by several replicas); one migrates, the others see it done
    db.transaction(() => {
      if ((db.pragma("user_version", { simple: true }) as number) >= v) return;
      db.exec(sql);
      db.pragma(`user_version = ${v}`);
    }).immediate();
  }
}
