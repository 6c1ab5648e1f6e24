/**
 * Written ranges (`journal/extents.ts`): coalescing, truncation, the cap, and the check a receiver
 * makes of a record's ranges — against a byte-map model of random writes and truncations.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { extentBytes, extentsFit, MAX_EXTENTS, WrittenRanges, type Extent } from "../../src/journal/extents.js";
import { rng } from "../helpers/tree.js";

/** The ranges of a byte map's changed bytes. */
function rangesOf(changed: boolean[]): Extent[] {
  const out: Extent[] = [];
  for (let i = 0; i < changed.length; i++) {
    if (!changed[i]) continue;
    const last = out.at(-1);
    if (last && last[0] + last[1] === i) last[1]++;
    else out.push([i, 1]);
  }
  return out;
}

describe("WrittenRanges", () => {
  it("coalesces touching and overlapping writes, in any order", () => {
    const w = new WrittenRanges(1000);
    w.add(10, 20);
    w.add(30, 40);
    w.add(20, 25);
    w.add(5, 12);
    w.add(35, 50);
    w.add(100, 110);
    w.add(24, 31);
    assert.deepEqual(w.forSize(1000), [
      [5, 45],
      [100, 10],
    ]);
  });

  it("counts every byte past the base's size and past a truncation", () => {
    const w = new WrittenRanges(100);
    w.add(10, 20);
    w.add(150, 160); // a write past the end leaves a hole: new bytes from 100 on
    assert.deepEqual(w.forSize(160), [
      [10, 10],
      [100, 60],
    ]);
    w.cut(15);
    assert.deepEqual(w.forSize(40), [[10, 30]], "cut to 15 and grown again: everything from 10 on (the range touches the tail)");
    assert.deepEqual(w.forSize(12), [[10, 2]], "a file shrunk since: the ranges clip");
  });

  it("matches a byte-map model of random writes and truncations", () => {
    const rand = rng(42);
    for (let round = 0; round < 200; round++) {
      const base = Math.floor(rand() * 300);
      const w = new WrittenRanges(base);
      let size = base;
      const changed = new Array<boolean>(600).fill(false);
      for (let op = 0; op < 20; op++) {
        if (rand() < 0.2) {
          const to = Math.floor(rand() * 400);
          w.cut(to);
          for (let i = to; i < changed.length; i++) changed[i] = true; // cut, or grown as a hole
          size = to;
        } else {
          const at = Math.floor(rand() * 400);
          const n = 1 + Math.floor(rand() * 60);
          w.add(at, at + n);
          for (let i = at; i < at + n; i++) changed[i] = true;
          for (let i = Math.min(size, base); i < at; i++) changed[i] = true; // a hole past the end
          size = Math.max(size, at + n);
        }
      }
      for (let i = base; i < changed.length; i++) changed[i] = true;
      const got = w.forSize(size);
      assert.deepEqual(got, rangesOf(changed.slice(0, size)), `round ${round}`);
      assert.ok(extentsFit(got!, base, size));
    }
  });

  it("past the cap the ranges are unknown, and stay so", () => {
    const w = new WrittenRanges(1 << 30);
    for (let i = 0; i <= MAX_EXTENTS; i++) w.add(i * 10, i * 10 + 1);
    assert.equal(w.forSize(1 << 30), undefined);
    w.add(5, 6);
    assert.equal(w.forSize(1 << 30), undefined);
  });

  it("a union keeps both sides' ranges and the lower tail", () => {
    const a = new WrittenRanges(100);
    a.add(0, 10);
    const b = new WrittenRanges(50);
    b.add(20, 30);
    a.unite(b);
    assert.deepEqual(a.forSize(100), [
      [0, 10],
      [20, 10],
      [50, 50],
    ]);
  });
});

describe("extentsFit (a record's ranges, untrusted)", () => {
  const rows: Array<[string, Extent[], number, number, boolean]> = [
    ["an append", [[100, 50]], 100, 150, true],
    ["an overwrite", [[10, 5]], 100, 100, true],
    ["a shrink", [], 100, 60, true],
    ["growth not covered", [[10, 5]], 100, 150, false],
    ["growth partly covered", [[120, 30]], 100, 150, false],
    ["unsorted", [[50, 5], [10, 5]], 100, 100, false],
    ["overlapping", [[10, 10], [15, 10]], 100, 100, false],
    ["past the end", [[90, 20]], 100, 100, false],
    ["empty range", [[10, 0]], 100, 100, false],
  ];
  for (const [name, ranges, base, size, want] of rows) {
    it(name, () => assert.equal(extentsFit(ranges, base, size), want));
  }
  it("extentBytes sums the lengths", () => assert.equal(extentBytes([[0, 3], [10, 4]]), 7));
});
