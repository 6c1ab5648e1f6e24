/**
 * `replayInOrder` (src/sync/pipeline.ts), with steps that record what happens: items are applied
 * in order; a window's transfers have all finished before its first item is applied (so one flush
 * covers them); no more than `transfers` run at once; an item that needs content only once an
 * earlier item is applied is asked again and still prefetched; an item that never needs content is
 * asked a bounded number of times; and a failed step ends the replay with every unused temp file
 * removed; a window closes early at WINDOW_BYTES of stated content. (The sync suites run it for real,
 * through the server's and the client's replay.)
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import type { StagedContent } from "../../src/sync/content-stream.js";
import { replayInOrder, WINDOW_BYTES } from "../../src/sync/pipeline.js";
import { tempDir } from "../helpers/tree.js";

interface Item {
  id: number;
  /** Needs content; with `after`, only once item `after` has been applied. */
  content: boolean;
  after?: number;
}

/** Steps of a replay that stage real temp files under `dir` and records the events. */
function harness(dir: string) {
  const events: string[] = [];
  const applied = new Set<number>();
  const asks = new Map<number, number>();
  let running = 0;
  let maxRunning = 0;
  const stage = async (id: number): Promise<StagedContent> => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 1 + (id % 3)));
    const temp = path.join(dir, `t${id}`);
    fs.writeFileSync(temp, String(id));
    running--;
    events.push(`staged ${id}`);
    return { temp, content: { size: 1, mtimeNs: "0", hash: "" }, ticket: id };
  };
  const steps = {
    prefetch: (it: Item) => {
      asks.set(it.id, (asks.get(it.id) ?? 0) + 1);
      events.push(`ask ${it.id}`);
      return it.content && (it.after === undefined || applied.has(it.after)) ? stage(it.id) : undefined;
    },
    step: async (it: Item, staged: Promise<StagedContent> | undefined) => {
      const s = staged ? await staged : undefined;
      events.push(`apply ${it.id}${s ? " prefetched" : ""}`);
      applied.add(it.id);
      if (s) fs.rmSync(s.temp); // installed
    },
  };
  return { events, asks, steps, maxRunning: () => maxRunning };
}

describe("replayInOrder", () => {
  it("applies in order; a window's transfers all land before its first item is applied; at most `transfers` at once", async () => {
    const dir = tempDir("imz-pipe-");
    try {
      const items: Item[] = Array.from({ length: 50 }, (_, id) => ({ id, content: id % 5 !== 0 }));
      const h = harness(dir);
      await replayInOrder(items, h.steps, 20, 4);
      const applies = h.events.filter((e) => e.startsWith("apply")).map((e) => Number(e.split(" ")[1]));
      assert.deepEqual(applies, items.map((i) => i.id));
      for (const first of [0, 20, 40]) {
        const firstApply = h.events.indexOf(`apply ${first}`);
        const window = items.slice(first, first + 20).filter((i) => i.content);
        for (const i of window) assert.ok(h.events.indexOf(`staged ${i.id}`) < firstApply, `item ${i.id} staged before window ${first} applies`);
      }
      assert.ok(h.maxRunning() <= 4, `ran ${h.maxRunning()} at once`);
      assert.ok(h.events.filter((e) => e.endsWith("prefetched")).length === 40);
      assert.deepEqual(fs.readdirSync(dir), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("closes a window at WINDOW_BYTES of stated content: the next window is staged only after the last one is applied", async () => {
    const dir = tempDir("imz-pipe-");
    try {
      // a third of the bound each: windows of three; then one item over the bound, a window of its own
      const sizes = [1, 1, 1, 1, 1, 1, 4, 1].map((n) => (n === 4 ? WINDOW_BYTES + 1 : Math.floor(WINDOW_BYTES / 3)));
      const items: Item[] = sizes.map((_, id) => ({ id, content: true }));
      const h = harness(dir);
      await replayInOrder(items, { ...h.steps, bytes: (it: Item) => sizes[it.id]! }, 100, 16);
      const at = (e: string): number => h.events.indexOf(e);
      for (const [first, last] of [[0, 2], [3, 5], [6, 6], [7, 7]] as const) {
        for (let i = first; i <= last; i++) assert.ok(at(`staged ${i}`) < at(`apply ${first} prefetched`), `item ${i} staged in the window of ${first}`);
        if (first > 0) assert.ok(at(`staged ${first}`) > at(`apply ${first - 1} prefetched`), `window of ${first} staged after the previous one is applied`);
      }
      assert.deepEqual(fs.readdirSync(dir), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the next window's transfers start while a window is applied, each still staged before its own window's first apply", async () => {
    const dir = tempDir("imz-pipe-");
    try {
      const items: Item[] = Array.from({ length: 60 }, (_, id) => ({ id, content: true }));
      const h = harness(dir);
      await replayInOrder(items, h.steps, 20, 16);
      const at = (e: string): number => h.events.indexOf(e);
      assert.deepEqual(
        h.events.filter((e) => e.startsWith("apply")).map((e) => Number(e.split(" ")[1])),
        items.map((i) => i.id),
      );
      for (const first of [20, 40]) {
        assert.ok(at(`ask ${first}`) < at(`apply ${first - 1} prefetched`), `window ${first} asked for while the one before is applied`);
        assert.ok(at(`ask ${first}`) > at(`staged ${first - 1}`), `window ${first} asked for once the one before is staged`);
        for (let i = first; i < first + 20; i++) assert.ok(at(`staged ${i}`) < at(`apply ${first} prefetched`), `item ${i} staged before its window applies`);
      }
      assert.equal(at("ask 40") > at("apply 0 prefetched"), true, "never two windows ahead");
      assert.deepEqual(fs.readdirSync(dir), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a failed step while the next window is being staged removes that window's temp files too", async () => {
    const dir = tempDir("imz-pipe-");
    try {
      const items: Item[] = Array.from({ length: 40 }, (_, id) => ({ id, content: true }));
      const h = harness(dir);
      const failing = { ...h.steps, step: async (it: Item, staged: Promise<StagedContent> | undefined) => (it.id === 5 ? Promise.reject(new Error("step 5")) : h.steps.step(it, staged)) };
      await assert.rejects(replayInOrder(items, failing, 20, 16), /step 5/);
      assert.ok(h.events.includes("ask 20"), "the next window was launched");
      assert.deepEqual(fs.readdirSync(dir), [], "the replay returns once every transfer it started has settled and its temp file is gone");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a batched transfer of the next window that fails while a window is applied is no unhandled rejection: its own step says the error", async () => {
    const dir = tempDir("imz-pipe-");
    const unhandled: unknown[] = [];
    const note = (e: unknown): number => unhandled.push(e);
    process.on("unhandledRejection", note);
    try {
      const items: Item[] = Array.from({ length: 40 }, (_, id) => ({ id, content: true }));
      const h = harness(dir);
      const cut = new Error("the connection was closed");
      const steps = {
        ...h.steps,
        batched: () => true,
        // the next window's transfers fail at once (a cut connection), while this window's steps take their time
        prefetch: (it: Item) => (it.id >= 20 ? Promise.reject(cut) : h.steps.prefetch(it)),
        step: async (it: Item, staged: Promise<StagedContent> | undefined) => {
          if (it.id < 20) await new Promise((r) => setTimeout(r, 2));
          return h.steps.step(it, staged);
        },
      };
      await assert.rejects(replayInOrder(items, steps, 20, 16), /connection was closed/);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", note);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("asks again for items that need content only after an earlier item (new files in a new directory)", async () => {
    const dir = tempDir("imz-pipe-");
    try {
      // item 0 is a mkdir, 1..40 files in it; 41 a second mkdir, 42..60 its files
      const items: Item[] = [
        { id: 0, content: false },
        ...Array.from({ length: 40 }, (_, k) => ({ id: 1 + k, content: true, after: 0 })),
        { id: 41, content: false },
        ...Array.from({ length: 19 }, (_, k) => ({ id: 42 + k, content: true, after: 41 })),
      ];
      const h = harness(dir);
      await replayInOrder(items, h.steps, 128, 16);
      const notPrefetched = h.events.filter((e) => e.startsWith("apply") && !e.endsWith("prefetched")).map((e) => Number(e.split(" ")[1]));
      assert.deepEqual(notPrefetched, [0, 41], "every file was prefetched");
      assert.ok(Math.max(...h.asks.values()) <= 3, "no item is asked more than three times");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a failed step ends the replay and removes every temp file no step installed", async () => {
    const dir = tempDir("imz-pipe-");
    try {
      const items: Item[] = Array.from({ length: 30 }, (_, id) => ({ id, content: true }));
      const h = harness(dir);
      const failing = { ...h.steps, step: async (it: Item, staged: Promise<StagedContent> | undefined) => (it.id === 7 ? Promise.reject(new Error("boom")) : h.steps.step(it, staged)) };
      await assert.rejects(replayInOrder(items, failing, 16, 4), /boom/);
      assert.deepEqual(fs.readdirSync(dir), []);
      assert.ok(!h.events.includes("apply 8"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
