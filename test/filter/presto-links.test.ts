/**
 * Hard links through the filter, as git and `ln` make them: random sequences of create, write,
 * close, link, unlink, rename and chmod made through Presto (with batch commits and syncs at random
 * points, so folding and CML optimisation meet every interleaving), replayed on the holder and on a
 * fresh replica: both trees equal the filtered one, no conflict or problem on the way, and a scan
 * finds nothing the filter left out. libfuse's own part is played as it plays it: a name unlinked
 * or renamed over while open is hidden (`.fuse_hidden…`) and removed at its last release.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Passthrough } from "../../src/filter/passthrough.js";
import { Presto } from "../../src/filter/presto.js";
import { scan } from "../../src/filter/scanner.js";
import { FileSet } from "../../src/journal/fileset.js";
import { LentoServer } from "../../src/sync/server.js";
import { syncFileSets, type SyncOptions } from "../../src/sync/sync.js";
import { manifest, tempDir } from "../helpers/tree.js";

const SYNC: SyncOptions = { mirror: false, dryRun: false, maxDeleteFraction: 1, force: true, owner: true, replicaIsSrc: true };
const PINNED = { idleMs: 600_000, maxMs: 600_000 };
const NAMES = ["a", "b", "c", "d/a", "d/b", "tmp_obj"] as const;

type Op =
  | { k: "create"; name: string; data: string }
  | { k: "write"; h: number; data: string }
  | { k: "close"; h: number }
  | { k: "link"; from: string; to: string }
  | { k: "unlink"; name: string }
  | { k: "rename"; from: string; to: string }
  | { k: "chmod"; name: string; mode: number }
  | { k: "git"; tmp: string; name: string; data: string }
  | { k: "commit" }
  | { k: "sync" };

const name = fc.constantFrom(...NAMES);
const data = fc.string({ maxLength: 6 });
const OP: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ k: fc.constant("create" as const), name, data }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant("write" as const), h: fc.nat(3), data }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant("close" as const), h: fc.nat(3) }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant("link" as const), from: name, to: name }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant("unlink" as const), name }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant("rename" as const), from: name, to: name }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant("chmod" as const), name, mode: fc.constantFrom(0o600, 0o644, 0o755) }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant("git" as const), tmp: name, name, data }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant("commit" as const) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant("sync" as const) }), weight: 1 },
);

/** An open handle and the name libfuse knows it by (its node). */
interface Handle {
  fh: number;
  node: string;
}

/** Drives Presto as the FUSE adapter would, with libfuse's hiding of open files. */
class Driver {
  readonly open: Handle[] = [];
  private hidden = 0;

  constructor(private readonly p: Presto) {}

  async run(op: Op): Promise<void> {
    const p = this.p;
    switch (op.k) {
      case "create": {
        const fh = await p.create(`/${op.name}`, 0o644);
        this.open.push({ fh, node: op.name });
        return this.write(fh, op.name, op.data);
      }
      case "write": {
        const h = this.open[op.h % Math.max(this.open.length, 1)];
        return h && this.write(h.fh, h.node, op.data);
      }
      case "close": {
        const h = this.open[op.h % Math.max(this.open.length, 1)];
        return h && this.close(h);
      }
      case "link":
        return p.link(`/${op.from}`, `/${op.to}`);
      case "unlink":
        if (this.isOpen(op.name)) return this.hide(op.name);
        return p.unlink(`/${op.name}`);
      case "rename":
        if (op.from === op.to) return;
        if (this.isOpen(op.to)) await this.hide(op.to);
        await p.rename(`/${op.from}`, `/${op.to}`);
        for (const h of this.open) if (h.node === op.from) h.node = op.to;
        return;
      case "chmod":
        return p.chmod(`/${op.name}`, op.mode);
      case "git": {
        // git's loose object: write a temp file, link it to its final name, unlink the temp
        await this.run({ k: "create", name: op.tmp, data: op.data });
        await this.close(this.open[this.open.length - 1]!);
        await this.run({ k: "link", from: op.tmp, to: op.name });
        return this.run({ k: "unlink", name: op.tmp });
      }
      case "commit":
      case "sync":
        return p.settled();
    }
  }

  async closeAll(): Promise<void> {
    while (this.open.length > 0) await this.close(this.open[0]!);
  }

  private async write(fh: number, node: string, data: string): Promise<void> {
    const buf = Buffer.from(data);
    await this.p.ftruncate(`/${node}`, fh, 0);
    await this.p.write(`/${node}`, fh, buf, buf.length, 0);
  }

  private async close(h: Handle): Promise<void> {
    this.open.splice(this.open.indexOf(h), 1);
    await this.p.flush(`/${h.node}`, h.fh);
    await this.p.release(`/${h.node}`, h.fh);
    if (h.node.includes(".fuse_hidden") && !this.isOpen(h.node)) await this.p.unlink(`/${h.node}`);
  }

  private isOpen(node: string): boolean {
    return this.open.some((h) => h.node === node);
  }

  /** libfuse: a name unlinked (or replaced) while open is renamed to a hidden name instead. */
  private async hide(node: string): Promise<void> {
    const hidden = `${path.posix.dirname(node) === "." ? "" : `${path.posix.dirname(node)}/`}.fuse_hidden${(++this.hidden).toString(16).padStart(16, "0")}`;
    await this.p.rename(`/${node}`, `/${hidden}`);
    for (const h of this.open) if (h.node === node) h.node = hidden;
  }
}

/** The tree as a replica must have it: what the filter shows, without libfuse's hidden files. */
function visible(root: string): ReturnType<typeof manifest> {
  const hidden = (p: string): boolean => p.includes(".fuse_hidden");
  return manifest(root)
    .filter((e) => !hidden(e.path))
    .map((e) => ({ ...e, links: e.links.filter((l) => !hidden(l)) }));
}

async function syncClean(replica: string, holder: string, what: string): Promise<void> {
  const r = await syncFileSets(replica, new LentoServer(holder, { owner: true }), SYNC);
  assert.deepEqual(r.conflicts, [], `${what}: conflicts`);
  assert.deepEqual(r.problems, [], `${what}: problems`);
}

async function check(ops: Op[]): Promise<void> {
  const holder = tempDir("imz-links-holder-");
  const dir = tempDir("imz-links-fsl-");
  const fresh = tempDir("imz-links-fresh-");
  fs.mkdirSync(path.join(dir, "d"));
  await syncFileSets(dir, new LentoServer(holder, { owner: true }), SYNC);
  const set = FileSet.open(dir);
  const p = await Presto.attach(set, new Passthrough(set.root), { batch: PINNED });
  const driver = new Driver(p);
  try {
    for (const op of ops) {
      try {
        await driver.run(op);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (!["ENOENT", "EEXIST", "EISDIR", "ENOTDIR", "EPERM"].includes(code ?? "")) throw err;
      }
      if (op.k === "sync") await syncClean(dir, holder, "a sync between the steps");
    }
    await driver.closeAll();
    await p.settled();
    await syncClean(dir, holder, "the last sync");
    assert.deepEqual(visible(holder), visible(dir), "the holder's tree is the filtered one");
    await syncClean(fresh, holder, "a new replica");
    assert.deepEqual(visible(fresh), visible(dir), "a new replica's tree is the filtered one");
    const s = await scan(set);
    assert.equal(s.records, 0, `a scan found what the filter left out: ${JSON.stringify(set.cml.all())}`);
  } finally {
    await p.detach();
    set.close();
    for (const d of [holder, dir, fresh]) fs.rmSync(d, { recursive: true, force: true });
  }
}

describe("hard links through the filter replicate exactly", () => {
  it("git's loose objects: write a temp file, link it to its final name, unlink the temp, again and again", async () => {
    await check([
      { k: "git", tmp: "tmp_obj", name: "a", data: "one" },
      { k: "git", tmp: "tmp_obj", name: "b", data: "two" },
      { k: "sync" },
      { k: "git", tmp: "tmp_obj", name: "d/a", data: "three" },
      { k: "rename", from: "a", to: "c" },
    ]);
  });

  it("a ref updated through a lock file many times between two syncs (rename over the last one)", async () => {
    const steps: Op[] = [{ k: "create", name: "a", data: "v0" }, { k: "close", h: 0 }, { k: "sync" }];
    for (let i = 1; i <= 4; i++) steps.push({ k: "create", name: "tmp_obj", data: `v${i}` }, { k: "close", h: 0 }, { k: "rename", from: "tmp_obj", to: "a" });
    await check(steps);
  });

  it("a file written through one name after it was linked: every name's row follows its inode", async () => {
    await check([
      { k: "create", name: "a", data: "x" },
      { k: "link", from: "a", to: "b" },
      { k: "write", h: 0, data: "yy" },
      { k: "chmod", name: "b", mode: 0o600 },
      { k: "close", h: 0 },
      { k: "unlink", name: "a" },
      { k: "sync" },
      { k: "link", from: "b", to: "c" },
      { k: "create", name: "tmp_obj", data: "t" },
      { k: "rename", from: "tmp_obj", to: "c" },
      { k: "close", h: 0 },
    ]);
  });

  it("a linked file's content later gone from the holder: a new replica still replays its history", async () => {
    await check([
      { k: "create", name: "tmp_obj", data: "x" },
      { k: "commit" },
      { k: "close", h: 0 },
      { k: "link", from: "tmp_obj", to: "b" },
      { k: "unlink", name: "tmp_obj" },
      { k: "sync" },
      { k: "unlink", name: "b" },
    ]);
  });

  it("a file unlinked while open (hidden), then a new file linked: the hidden one's close journals nothing", async () => {
    await check([
      { k: "create", name: "d/a", data: "k" },
      { k: "unlink", name: "d/a" },
      { k: "create", name: "tmp_obj", data: "U" },
      { k: "link", from: "tmp_obj", to: "d/b" },
    ]);
  });

  it("random create, write, close, link, unlink, rename and chmod sequences", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(OP, { minLength: 1, maxLength: 24 }), (ops) => check(ops)),
      { seed: 20261203, numRuns: 60, endOnFailure: true },
    );
  });
});
