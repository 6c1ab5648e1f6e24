/**
 * Deferred births (`Journal.defer` / `Journal.flush`, `Fsdb.putNew`): journaling new objects together
 * leaves exactly what journaling each alone leaves — the same rows, the same records under the same
 * seqs (the CML's, or the holder's log and version stamps), the same remembered digests forgotten —
 * whatever the mix of deferred births, flushes and ordinary records; a birth whose row cannot be
 * written is reported to its caller and leaves nothing, the others are journaled all the same.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { FileSet } from "../../src/journal/fileset.js";
import type { FsObject } from "../../src/journal/fsdb.js";
import { Journal } from "../../src/journal/journal.js";
import type { NewRecord } from "../../src/journal/records.js";
import { rng, tempDir } from "../helpers/tree.js";

/** A step of a scenario: a birth (deferred, or recorded alone), a flush, or an ordinary record. */
type Step = { kind: "birth"; rec: NewRecord; row: FsObject } | { kind: "flush" } | { kind: "setattr"; fid: string; mode: number };

const DIRS = ["a0:1", "a0:2", "a0:3"];

/** A directory row of the scenario's tree (made before it starts). */
function dirRow(fid: string, name: string): FsObject {
  return { fid, type: "d", parent: "root", name, version: "", size: 0, mtimeNs: "1", mode: 0o755, uid: 0, gid: 0, hash: "", target: null, flags: 3, ino: `9:${fid}`, ctimeNs: "1", xattrs: "" };
}

/** A random scenario: births in a few directories (one of them with a row that cannot be written), flushes, setattrs. */
function scenario(seed: number): Step[] {
  const next = rng(seed);
  const steps: Step[] = [];
  const born: string[] = [];
  for (let n = 0; n < 60; n++) {
    const r = next();
    if (r < 0.1) steps.push({ kind: "flush" });
    else if (r < 0.2 && born.length > 0) steps.push({ kind: "setattr", fid: born[Math.floor(next() * born.length)]!, mode: 0o600 + n });
    else {
      const fid = `a0:${100 + n}`;
      const parent = DIRS[Math.floor(next() * DIRS.length)]!;
      const name = `n${n}`;
      const dir = next() < 0.2;
      const hash = (n * 2654435761 >>> 0).toString(16).padStart(8, "0").repeat(8);
      // one row the table refuses (its type fails the CHECK): the record itself is valid
      const bad = n === 30;
      const attrs = { mode: dir ? 0o755 : 0o644, uid: 0, gid: 0, mtimeNs: String(1000 + n) };
      const rec: NewRecord = dir
        ? { op: "mkdir", fid, time: 5, parent, name, attrs }
        : { op: "create", fid, time: 5, parent, name, attrs, content: { size: n, mtimeNs: String(1000 + n), hash } };
      const row: FsObject = {
        fid, type: bad ? ("x" as "f") : dir ? "d" : "f", parent, name, version: "", size: dir ? 0 : n, mtimeNs: String(1000 + n), mode: attrs.mode,
        uid: 0, gid: 0, hash: dir ? "" : hash, target: null, flags: 3, ino: `9:${n}`, ctimeNs: "7", xattrs: "",
      };
      steps.push({ kind: "birth", rec, row });
      if (!bad) born.push(fid);
    }
  }
  return steps;
}

/** What a file set holds after a scenario, its own replica id written as `R`. */
function state(set: FileSet): unknown {
  const norm = (v: unknown): unknown => JSON.parse(JSON.stringify(v).replaceAll(set.replicaId, "R"));
  return norm({
    objects: set.db.prepare(`SELECT * FROM objects WHERE fid != 'root' ORDER BY fid`).all(),
    cml: set.db.prepare(`SELECT seq, fid, body FROM cml ORDER BY seq`).all(),
    log: set.db.prepare(`SELECT volume, origin, origin_seq, fid, version, body FROM server_log ORDER BY volume`).all(),
    wholes: set.db.prepare(`SELECT fid FROM dir_wholes ORDER BY fid`).pluck().all(),
  });
}

/** Runs `steps` on a fresh file set of `role`, the births deferred or each recorded alone; returns its state and the births reported failed. */
function run(role: "replica" | "holder", steps: Step[], defer: boolean, grouped: boolean): { state: unknown; failed: string[] } {
  const root = tempDir("imz-defer-");
  const set = FileSet.init(root, { role });
  try {
    set.transaction(() => {
      DIRS.forEach((fid, k) => set.fsdb.put(dirRow(fid, `d${k}`)));
      // every directory has a remembered digest: a birth in it must forget it
      for (const fid of [...DIRS, "root"]) set.db.prepare(`INSERT INTO dir_wholes (fid, digest) VALUES (?, x'00')`).run(fid);
    });
    const journal = new Journal(set);
    const failed: string[] = [];
    if (grouped) set.startGroup();
    for (const s of steps) {
      if (s.kind === "flush") journal.flush();
      else if (s.kind === "setattr") {
        journal.flush(); // a caller reads a deferred birth's row only after its flush
        const o = set.fsdb.get(s.fid);
        if (o === undefined) continue; // the birth that failed
        journal.record({ op: "setattr", fid: s.fid, time: 5, base: o.version, attrs: { mode: s.mode } }, () => set.fsdb.put({ ...o, mode: s.mode }));
      } else if (defer) journal.defer(s.rec, s.row, () => failed.push(s.row.fid));
      else {
        try {
          journal.record(s.rec, () => set.fsdb.put(s.row));
        } catch {
          failed.push(s.row.fid);
        }
      }
    }
    journal.flush();
    if (grouped) set.endGroup();
    return { state: state(set), failed };
  } finally {
    set.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

describe("deferred births (Journal.defer)", () => {
  for (const role of ["replica", "holder"] as const) {
    it(`journal the same rows and records as each birth alone (${role}, random scenarios)`, () => {
      for (let seed = 1; seed <= 12; seed++) {
        const steps = scenario(seed);
        const grouped = seed % 2 === 0;
        const alone = run(role, steps, false, grouped);
        const together = run(role, steps, true, grouped);
        assert.deepEqual(together.state, alone.state, `seed ${seed}`);
        assert.deepEqual(together.failed, alone.failed, `seed ${seed}: the same birth reported failed`);
        assert.deepEqual(alone.failed, ["a0:130"].filter(() => steps.some((s) => s.kind === "birth" && s.row.fid === "a0:130")));
      }
    });
  }

  it("are not in the Fsdb before their flush, and are journaled before a later record", () => {
    const root = tempDir("imz-defer-");
    const set = FileSet.init(root, { role: "replica" });
    try {
      const journal = new Journal(set);
      set.fsdb.put(dirRow("a0:1", "d"));
      const rec: NewRecord = { op: "mkdir", fid: "a0:2", time: 5, parent: "a0:1", name: "e", attrs: { mode: 0o755 } };
      journal.defer(rec, { ...dirRow("a0:2", "e"), parent: "a0:1" }, () => assert.fail("not failed"));
      assert.equal(set.fsdb.get("a0:2"), undefined);
      assert.equal(set.cml.count(), 0);
      const o = set.fsdb.must("a0:1");
      const later = journal.record({ op: "setattr", fid: "a0:1", time: 6, base: "", attrs: { mode: 0o700 } }, () => set.fsdb.put({ ...o, mode: 0o700 }));
      assert.deepEqual(set.cml.all().map((r) => [r.seq, r.op, r.fid]), [[later.seq - 1, "mkdir", "a0:2"], [later.seq, "setattr", "a0:1"]]);
      assert.equal(set.fsdb.must("a0:2").parent, "a0:1");
    } finally {
      set.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("refuses a record that could not be read back when it is deferred (RECORD_INVALID), not at its flush", () => {
    const root = tempDir("imz-defer-");
    const set = FileSet.init(root, { role: "replica" });
    try {
      const journal = new Journal(set);
      const rec = { op: "mkdir", fid: "not a fid", time: 5, parent: "root", name: "e", attrs: {} } as NewRecord;
      assert.throws(() => journal.defer(rec, dirRow("a0:2", "e"), () => undefined), { code: "RECORD_INVALID" });
      journal.flush();
      assert.equal(set.cml.count(), 0);
    } finally {
      set.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
