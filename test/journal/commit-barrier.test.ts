/**
 * A reader opening a file set waits for the write transaction another process holds open (a
 * mount's batch) and then sees its records: a sync started after a program returned through the
 * mount sees everything that program did.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { DB_FILE, FileSet, META_DIR } from "../../src/journal/fileset.js";
import { tempDir } from "../helpers/tree.js";

const CHILD = fileURLToPath(new URL("./writer-child.ts", import.meta.url));

/** Starts the writer child and resolves once its transaction is open. */
async function writer(root: string, mode: "commit" | "die" | "busy"): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, path.join(root, META_DIR, DB_FILE), mode], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
    child.on("exit", (code) => reject(new Error(`writer exited ${String(code)} before it was ready`)));
  });
  return child;
}

function probes(set: FileSet): number {
  return set.db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM filter_events WHERE kind = 'probe'`).get()!.n;
}

async function opened(mode: "commit" | "die" | "busy"): Promise<number> {
  const root = tempDir("imz-barrier-");
  try {
    FileSet.init(root, { role: "replica" }).close();
    const child = await writer(root, mode);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const set = FileSet.open(root);
    try {
      return probes(set);
    } finally {
      set.close();
      await exited;
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

describe("opening a file set waits for another process's open write transaction", () => {
  it("sees the records of a transaction that was open when it began, once it commits", async () => {
    assert.equal(await opened("commit"), 1);
  });

  it("sees them even when the writer begins its next transaction at once (no free moment)", async () => {
    const seen = await opened("busy");
    assert.ok(seen >= 1 && seen < 21, `saw ${seen} of 21 transactions: it waited for the lock to be free, not for the first commit`);
  });

  it("does not wait for a writer that dies without committing (its records never existed)", async () => {
    assert.equal(await opened("die"), 0);
  });

  it("does not wait for a group this process holds open (a holder serving two replicas: the second attach opened the file set while the first one's batch awaited I/O, and blocked them both for 30 s)", () => {
    const root = tempDir("imz-barrier-");
    try {
      FileSet.init(root, { role: "replica" }).close();
      const first = FileSet.open(root);
      first.startGroup(false);
      first.transaction(() => first.setMeta("probe", "1"));
      assert.ok(first.db.inTransaction, "the group's write transaction is open");
      const second = FileSet.open(root);
      second.close();
      first.endGroup();
      first.close();
      const third = FileSet.open(root);
      assert.equal(third.meta("probe"), "1");
      third.close();
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
