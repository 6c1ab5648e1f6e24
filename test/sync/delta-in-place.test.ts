/**
 * A close's delta applied in place when its COPYs keep their offsets (`sync/patch-in-place.ts`):
 * the deltas are `rdiff delta`'s, and every result is compared with `rdiff patch`'s; the signature
 * kept with the new version with `rdiff signature`'s. Unaligned deltas (an insert) and deltas that
 * change too much are written whole. Real syncs, really killed mid-apply, leave the old version or
 * the new one, never a torn file.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { scan } from "../../src/filter/scanner.js";
import { hashBuffer } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { chooseBlockLength } from "../../src/sync/delta/index.js";
import { receiveContent } from "../../src/sync/delta-transfer.js";
import { Holding } from "../../src/sync/holding.js";
import { InPlace, recoverInPlace } from "../../src/sync/in-place.js";
import type { SourceFile } from "../../src/sync/source-compare.js";
import { describedStream } from "../../src/sync/content-stream.js";
import { SYNC_BIN, syncJson } from "../helpers/cli.js";
import { leftoverTemps, randomBytes, tempDir } from "../helpers/tree.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

/** `data` with `count` runs of `len` fresh bytes written over it at evenly spread offsets. */
function scattered(data: Buffer, count: number, len: number, seed: number): Buffer {
  const out = Buffer.from(data);
  for (let i = 0; i < count; i++) randomBytes(len, seed + i).copy(out, Math.floor(((i + 0.5) * (out.length - len)) / count));
  return out;
}

/**
 * Stages `next` in a holder file set whose file `f` is `old`, over a delta `rdiff delta` makes
 * against the signature the receiver sends; applies an in-place result as the applier does. Returns
 * the staged content's kind, the file's bytes after, `rdiff patch`'s output, whether the file kept
 * its inode, and the new version's signature (and `rdiff signature`'s).
 */
async function viaRdiff(
  old: Buffer,
  next: Buffer,
  source?: (file: string) => SourceFile,
): Promise<{ inPlace: boolean; staged: number; after: Buffer; rdiff: Buffer; sameInode: boolean; signature?: Buffer; rdiffSignature: Buffer; asks: number }> {
  const root = dir("imz-dip-");
  const work = dir("imz-dip-work-");
  const file = path.join(root, "f");
  fs.writeFileSync(file, old);
  const set = FileSet.init(root, { role: "holder" });
  try {
    await scan(set);
    const o = set.fsdb.child(ROOT_FID, "f")!;
    const ino = fs.statSync(file).ino;
    const holding = new Holding(set);
    fs.writeFileSync(path.join(work, "old"), old);
    fs.writeFileSync(path.join(work, "new"), next);
    const expected = { size: next.length, mtimeNs: "1000000000000000000", hash: hashBuffer(next) };
    let asks = 0;
    const staged = await receiveContent(holding, { fid: o.fid, expected, base: o.version }, (ask) => {
      asks++;
      if (ask === undefined) {
        // the whole-file retry
        return describedStream(async function* (settle) {
          settle(expected);
          yield next;
        });
      }
      assert.ok(Buffer.isBuffer(ask), "a signature is sent");
      fs.writeFileSync(path.join(work, "sig"), ask);
      execFileSync("rdiff", ["delta", path.join(work, "sig"), path.join(work, "new"), path.join(work, "delta")]);
      const delta = fs.readFileSync(path.join(work, "delta"));
      // settled before the last chunk, as a sender does (a patch stops reading at the end command)
      const stream = describedStream(async function* (settle) {
        let at = 0;
        for (; at + 100_000 < delta.length; at += 100_000) yield delta.subarray(at, at + 100_000);
        settle(expected);
        yield delta.subarray(at);
      });
      return source ? { ...stream, source: source(path.join(work, "new")) } : stream;
    });
    execFileSync("rdiff", ["patch", path.join(work, "old"), path.join(work, "delta"), path.join(work, "patched")]);
    const block = String(chooseBlockLength(next.length));
    execFileSync("rdiff", ["-H", "md4", "-R", "rabinkarp", "-b", block, "-S", "4", "signature", path.join(work, "new"), path.join(work, "newsig")]);
    if (staged.inPlace) {
      const ip = new InPlace(holding);
      ip.patch(o, { temp: staged.temp, ranges: staged.inPlace.ranges, baseHash: staged.inPlace.baseHash, size: staged.content.size, hash: staged.content.hash }, () => undefined);
      ip.forget();
    } else {
      fs.copyFileSync(staged.temp, file);
    }
    fs.rmSync(staged.temp, { force: true });
    assert.deepEqual(leftoverTemps(root), []);
    return {
      inPlace: staged.inPlace !== undefined,
      staged: staged.inPlace?.ranges.reduce((n, [, len]) => n + len, 0) ?? 0,
      after: fs.readFileSync(file),
      rdiff: fs.readFileSync(path.join(work, "patched")),
      sameInode: fs.statSync(file).ino === ino,
      signature: await staged.signature,
      rdiffSignature: fs.readFileSync(path.join(work, "newsig")),
      asks,
    };
  } finally {
    set.close();
  }
}

describe("a patch checked against the sender's own file (in process)", () => {
  const old = randomBytes(12 << 20, 20);
  const next = scattered(old, 40, 3000, 21);
  const mid = old.length >> 1;
  const inserted = Buffer.concat([old.subarray(0, mid), randomBytes(1024, 22), old.subarray(mid)]);
  const sourceOf = (file: string): SourceFile => ({ open: () => fs.promises.open(file, "r"), status: fs.promises.stat(file, { bigint: true }) });

  it("the same bytes: accepted without a retry, in place or written whole", async () => {
    const r = await viaRdiff(old, next, sourceOf);
    assert.ok(r.inPlace && r.after.equals(next) && r.asks === 1);
    const w = await viaRdiff(old, inserted, sourceOf);
    assert.ok(!w.inPlace && w.after.equals(inserted) && w.asks === 1);
  });

  it("a byte that differs, or a file that is no longer the one described, is a mismatch: retried whole", async () => {
    const other = (file: string): SourceFile => {
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 5]! ^= 1;
      fs.writeFileSync(`${file}.other`, bytes);
      return sourceOf(`${file}.other`);
    };
    const r = await viaRdiff(old, next, other);
    assert.ok(r.after.equals(next) && r.asks === 2, "retried whole");
    const moved = (file: string): SourceFile => {
      const status = fs.promises.stat(file, { bigint: true });
      return { open: async () => (await status, fs.utimesSync(file, 1, 1), fs.promises.open(file, "r")), status };
    };
    const m = await viaRdiff(old, inserted, moved);
    assert.ok(m.after.equals(inserted) && m.asks === 2, "retried whole");
  });
});

describe("a delta applied in place", () => {
  const old = randomBytes(12 << 20, 1);

  it("scattered edits in place: only the changed ranges are staged, the result is rdiff patch's, the signature rdiff signature's", async () => {
    const next = scattered(old, 40, 3000, 100);
    const r = await viaRdiff(old, next);
    assert.ok(r.inPlace, "staged as an in-place change");
    assert.ok(r.staged >= 40 * 3000 && r.staged <= 40 * (3000 + 2 * 512), `only the changed bytes (to 512-byte grains) are staged: ${r.staged}`);
    assert.ok(r.sameInode);
    assert.ok(r.after.equals(next));
    assert.ok(r.rdiff.equals(next));
    assert.ok(r.signature?.equals(r.rdiffSignature), "the kept signature is rdiff's");
  });

  it("a version grown at its end and one cut short are changed in place too", async () => {
    const grown = Buffer.concat([scattered(old, 3, 1000, 200), randomBytes(300_000, 201)]);
    const g = await viaRdiff(old, grown);
    assert.ok(g.inPlace && g.after.equals(grown) && g.rdiff.equals(grown));
    const cut = scattered(old, 3, 1000, 300).subarray(0, old.length - 1_000_000);
    const c = await viaRdiff(old, cut);
    assert.ok(c.inPlace && c.after.equals(cut) && c.rdiff.equals(cut));
  });

  it("an insert (COPYs moved), too many changes or a small file are written whole, as rdiff patch writes them", async () => {
    const mid = old.length >> 1;
    const inserted = Buffer.concat([old.subarray(0, mid), randomBytes(1024, 400), old.subarray(mid)]);
    const i = await viaRdiff(old, inserted);
    assert.ok(!i.inPlace && i.after.equals(inserted) && i.rdiff.equals(inserted));
    // an edit in place followed by an insert: the ranges kept before the insert are rebuilt into the whole
    const both = Buffer.concat([scattered(old, 4, 2000, 500).subarray(0, mid), randomBytes(1024, 501), old.subarray(mid)]);
    const b = await viaRdiff(old, both);
    assert.ok(!b.inPlace && b.after.equals(both) && b.rdiff.equals(both));
    assert.ok(b.signature?.equals(b.rdiffSignature));
    const small = randomBytes(2 << 20, 700); // under IN_PLACE_MIN: three flushes would cost more than the write
    const s = await viaRdiff(small, scattered(small, 4, 1000, 701));
    assert.ok(!s.inPlace && s.after.equals(scattered(small, 4, 1000, 701)));
    const most = scattered(old, 200, 20_000, 600);
    const m = await viaRdiff(old, most);
    assert.ok(!m.inPlace && m.after.equals(most) && m.rdiff.equals(most));
  });
});

/** Starts a sync of `a` to `b`, SIGKILLs it (and its group) once `when()` holds; returns whether it was still running then. */
async function killWhen(a: string, b: string, when: () => boolean): Promise<boolean> {
  const child = spawn(process.execPath, [SYNC_BIN, a, b], { stdio: "ignore", detached: true });
  let exited = false;
  const gone = new Promise((r) => child.on("close", () => r((exited = true))));
  while (!exited && !when()) await new Promise((r) => setTimeout(r, 1));
  const killed = !exited;
  if (killed) process.kill(-child.pid!, "SIGKILL");
  await gone;
  return killed;
}

describe("a delta applied in place, killed", () => {
  it("leaves the old version or the new one, rolls a stale undo file back at the next start, and converges", async (t) => {
    const a = dir("imz-dip-a-");
    const b = dir("imz-dip-b-");
    const v0 = randomBytes(48 << 20, 7);
    fs.writeFileSync(path.join(a, "f"), v0);
    assert.equal((await syncJson([a, b])).code, 0);
    const undoing = (root: string): boolean => leftoverTemps(root).some((n) => n.startsWith("undo-"));
    const states: string[] = [];
    let old = v0;
    for (let round = 0; round < 4; round++) {
      const next = scattered(old, 300, 2000, 1000 + round * 1000);
      fs.writeFileSync(path.join(a, "f"), next);
      // round 0: killed while the delta is staged; 1: once the undo file appears; 2 and 3: once the file itself is written to
      const mtime = fs.statSync(path.join(b, "f")).mtimeMs;
      const when = [() => leftoverTemps(b).length > 0, () => undoing(b), () => fs.statSync(path.join(b, "f")).mtimeMs !== mtime][Math.min(round, 2)]!;
      const killed = await killWhen(a, b, when);
      const now = fs.readFileSync(path.join(b, "f"));
      const state = now.equals(old) ? "old" : now.equals(next) ? "new" : "torn";
      states.push(`${killed ? "killed" : "finished"}, ${state}${undoing(b) ? ", undo file left" : ""}`);
      if (state === "torn") assert.ok(undoing(b), `round ${round}: a torn file has its undo file`);
      if (round === 2) {
        // what every start does first (the sync below must do it itself in the other rounds)
        const set = FileSet.open(b);
        try {
          set.cleanTemp();
          recoverInPlace(set);
        } finally {
          set.close();
        }
        const recovered = fs.readFileSync(path.join(b, "f"));
        assert.ok(recovered.equals(old) || recovered.equals(next), `round ${round}: the old version or the new one (${state} before recovery)`);
        assert.deepEqual(leftoverTemps(b), []);
      }
      // the next sync rolls a stale undo file back at its start: a torn file left as it is would be a local change, and a conflict
      const r = await syncJson([a, b]);
      assert.equal(r.code, 0, `round ${round} (${states.at(-1)}): ${r.stdout}${r.stderr}`);
      assert.deepEqual(r.json?.conflicts, []);
      assert.ok(fs.readFileSync(path.join(b, "f")).equals(next), `round ${round}: converged`);
      assert.deepEqual(leftoverTemps(b), []);
      old = next;
    }
    t.diagnostic(`after each kill: ${states.join("; ")}`);
  });
});
