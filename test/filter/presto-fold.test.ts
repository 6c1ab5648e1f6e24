/**
 * Folding in the filter's open batch: the pure rule (a table) and the journal that applies it only
 * to uncommitted records whose object no later record mentioned.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { Passthrough } from "../../src/filter/passthrough.js";
import { foldRecord } from "../../src/filter/presto-fold.js";
import { Presto } from "../../src/filter/presto.js";
import { scan } from "../../src/filter/scanner.js";
import { FileSet } from "../../src/journal/fileset.js";
import type { JournalRecord, NewRecord } from "../../src/journal/records.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets, type SyncOptions } from "../../src/sync/sync.js";
import { manifest, tempDir } from "../helpers/tree.js";

const SYNC: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: true, replicaIsSrc: true };

const at = { seq: 7, origin: "aa", originSeq: 7, time: 1 };
const X = "aa:1";
const content = { size: 5, mtimeNs: "50", hash: "ab" };
const create: JournalRecord = { op: "create", fid: X, parent: "root", name: "x", attrs: { mode: 0o600, mtimeNs: "10" }, ...at };
const created: JournalRecord = { ...create, content: { size: 0, mtimeNs: "10", hash: "00" } };
const setattr = (attrs: Record<string, unknown>): NewRecord => ({ op: "setattr", fid: X, base: "", attrs, time: 2 });
const close: NewRecord = { op: "close", fid: X, base: "", content, time: 3 };

describe("foldRecord", () => {
  const rows: Array<{ name: string; prior: JournalRecord; next: NewRecord; want: JournalRecord | undefined }> = [
    { name: "setattr into a create: later attributes win", prior: create, next: setattr({ mode: 0o644, uid: 5 }), want: { ...create, attrs: { mode: 0o644, mtimeNs: "10", uid: 5 } } },
    {
      name: "an mtime into a create with content moves the content's mtime too",
      prior: created,
      next: setattr({ mtimeNs: "99" }),
      want: { ...created, attrs: { mode: 0o600, mtimeNs: "99" }, content: { size: 0, mtimeNs: "99", hash: "00" } },
    },
    { name: "close into a create: its content and mtime", prior: created, next: close, want: { ...created, attrs: { mode: 0o600, mtimeNs: "50" }, content } },
    {
      name: "setattr into a setattr",
      prior: { op: "setattr", fid: X, base: "h:1", attrs: { mode: 0o600 }, ...at },
      next: setattr({ mtimeNs: "3" }),
      want: { op: "setattr", fid: X, base: "h:1", attrs: { mode: 0o600, mtimeNs: "3" }, ...at },
    },
    { name: "close into a setattr: no", prior: { op: "setattr", fid: X, base: "", attrs: { mode: 0o600 }, ...at }, next: close, want: undefined },
    { name: "setattr into a close: no", prior: { ...close, ...at } as JournalRecord, next: setattr({ mode: 0o600 }), want: undefined },
    { name: "close into a close: no (the optimiser keeps the last at reintegration)", prior: { ...close, ...at } as JournalRecord, next: close, want: undefined },
    {
      name: "setattr into a rename: no",
      prior: { op: "rename", fid: X, parent: "root", name: "x", newParent: "root", newName: "y", base: "", ...at },
      next: setattr({ mode: 0o600 }),
      want: undefined,
    },
  ];
  for (const r of rows) it(r.name, () => assert.deepEqual(foldRecord(r.prior, r.next), r.want));
});

describe("the filter's folding journal", () => {
  it("folds a file's steps of one batch, never into a record a later one mentioned, never across a commit", async () => {
    const root = tempDir("imz-fold-");
    const set = FileSet.init(root, { role: "replica", filesetId: "" });
    const p = await Presto.attach(set, new Passthrough(set.root), { batch: { idleMs: 600_000, maxMs: 600_000 } });
    const show = (r: JournalRecord): string => `${r.op}:${r.op === "setattr" ? set.fsdb.pathOf(r.fid) || "." : r.op === "close" ? "" : r.name}`;
    try {
      // tar's steps on one file: one record (the directory's mtime aside)
      const fh = await p.create("/x", 0o644);
      await p.write("/x", fh, Buffer.from("hello"), 5, 0);
      await p.chmod("/x", 0o600);
      await p.utimens("/x", { sec: 1, nsec: 0 }, { sec: 1_000_000_000, nsec: 0 });
      await p.flush("/x", fh);
      await p.release("/x", fh);
      const x = set.cml.all()[0]!;
      assert.ok(x.op === "create" && x.attrs.mode === 0o600 && x.content?.size === 5 && x.content.mtimeNs === "1000000000000000000", JSON.stringify(x));
      // d is mentioned as a parent by f's create: d's later mode goes into a later record
      await p.mkdir("/d", 0o755);
      const fh2 = await p.create("/d/f", 0o644);
      await p.release("/d/f", fh2);
      await p.chmod("/d", 0o700);
      assert.deepEqual(set.cml.all().map(show), ["create:x", "setattr:.", "mkdir:d", "setattr:.", "create:f", "setattr:d"]);
      const mkdir = set.cml.all()[2]!;
      assert.ok(mkdir.op === "mkdir" && mkdir.attrs.mode === 0o755);
      const dAttrs = set.cml.all()[5]!;
      assert.ok(dAttrs.op === "setattr" && dAttrs.attrs.mode === 0o700);
      // committed: never folded into
      await p.settled();
      await p.chmod("/d/f", 0o600);
      assert.deepEqual(set.cml.all().slice(6).map(show), ["setattr:d/f"]);
      const s = await scan(set);
      assert.equal(s.records, 0, "a scan finds nothing the folded journal left out");
      assert.equal(fs.readFileSync(path.join(root, "x"), "utf8"), "hello");
    } finally {
      await p.detach();
      set.close();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("on a holder, rewrites its uncommitted server log records, and a replica made from the log equals the tree", async () => {
    const root = tempDir("imz-fold-holder-");
    const replica = tempDir("imz-fold-replica-");
    const set = FileSet.init(root);
    const p = await Presto.attach(set, new Passthrough(set.root), { batch: { idleMs: 600_000, maxMs: 600_000 } });
    try {
      await p.mkdir("/d", 0o750);
      for (const name of ["a", "b"]) {
        const mp = `/d/${name}`;
        const fh = await p.create(mp, 0o644);
        await p.write(mp, fh, Buffer.from(`content of ${name}`), 12, 0);
        await p.chown(mp, 0xffffffff, 0xffffffff);
        await p.utimens(mp, { sec: 1, nsec: 0 }, { sec: 1_200_000_000, nsec: 7 });
        await p.chmod(mp, 0o640);
        await p.flush(mp, fh);
        await p.release(mp, fh);
      }
      await p.settled();
      assert.deepEqual(set.log.since(0, 100).map((l) => l.record.op).filter((op) => op !== "setattr"), ["mkdir", "create", "create"]);
      await p.detach();
      await syncFileSets(replica, new LentoServer(root, { owner: true }), SYNC);
      assert.deepEqual(manifest(replica).filter((e) => e.path !== ""), manifest(root).filter((e) => e.path !== ""));
    } finally {
      set.close();
      for (const d of [root, replica]) fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
