/**
 * `intermezzo demo`: the main job end to end on an embedded default — two file sets on this machine
 * (a laptop replica and a server holder), synced two ways through the real protocol, with a
 * rename, a delete, and a conflict left for resolution — printing what each step did.
 */
import type { Command } from "commander";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connectLocal } from "../sync/connect.js";
import { syncFileSets, type SyncReport } from "../sync/sync.js";
import { runAction } from "./exit.js";
import { human } from "./report.js";

function say(text: string): void {
  process.stdout.write(text + "\n");
}

function put(root: string, rel: string, text: string): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}

function tree(root: string): string {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      if (rel === "" && name === ".intermezzo") continue;
      const p = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(root, p));
      if (st.isDirectory()) {
        out.push(`    ${p}/`);
        walk(p);
      } else out.push(`    ${p}  (${st.size} B) ${JSON.stringify(fs.readFileSync(path.join(root, p), "utf8").slice(0, 40))}`);
    }
  };
  walk("");
  return out.join("\n");
}

async function sync(laptop: string, server: string): Promise<SyncReport> {
  const peer = await connectLocal(server, "stdio", true);
  const r = await syncFileSets(laptop, peer, { dryRun: false, mirror: false, maxDeleteFraction: 0.5, force: false, owner: true, replicaIsSrc: true });
  say(`  -> laptop to server: ${r.recordsShipped} record(s) reintegrated, ${r.filesSent} file(s) / ${human(r.bytesSent)} backfetched`);
  say(`  <- server to laptop: ${r.recordsApplied} update(s) applied, ${r.filesReceived} file(s) / ${human(r.bytesReceived)} fetched`);
  say(`     ${human(r.wire.sent + r.wire.received)} on the wire in ${r.durationMs} ms`);
  for (const c of r.conflicts) say(`  !! conflict (${c.kind}) at ${c.path}: ${c.detail}`);
  return r;
}

async function demo(keep: boolean): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "intermezzo-demo-"));
  const laptop = path.join(base, "laptop");
  const server = path.join(base, "server");
  fs.mkdirSync(laptop);
  fs.mkdirSync(server);
  try {
    say(`intermezzo demo in ${base}\n`);
    say("1. Two trees: a laptop with notes, a server with a web site.");
    put(laptop, "notes/todo.txt", "buy milk\n");
    put(laptop, "notes/ideas.md", "# ideas\n");
    put(server, "www/index.html", "<h1>hello</h1>\n");
    put(server, "www/about.html", "<p>about</p>\n");
    say("   First sync: the server becomes the file set's holder, the laptop a replica; the trees are unioned.");
    await sync(laptop, server);
    say(`   laptop now has:\n${tree(laptop)}\n`);

    say("2. Disconnected work on the laptop: rename a directory, delete a file, edit another.");
    fs.renameSync(path.join(laptop, "notes"), path.join(laptop, "journal"));
    fs.rmSync(path.join(laptop, "www/about.html"));
    put(laptop, "journal/todo.txt", "buy milk\nwrite demo\n");
    say("   Meanwhile on the server: a new page.");
    put(server, "www/news.html", "<p>news</p>\n");
    say("   Reintegration ships the laptop's journal (the rename is one record, no data moves); update notification brings the server's news.");
    await sync(laptop, server);
    say(`   server now has:\n${tree(server)}\n`);

    say("3. Both sides edit www/index.html before the next sync.");
    put(laptop, "www/index.html", "<h1>hello from the laptop</h1>\n");
    put(server, "www/index.html", "<h1>hello from the server</h1>\n");
    const r = await sync(laptop, server);
    say(`   The conflict is detected by version stamps and left for resolution: nothing is overwritten.`);
    say(`   laptop keeps ${JSON.stringify(fs.readFileSync(path.join(laptop, "www/index.html"), "utf8").trim())}`);
    say(`   server keeps ${JSON.stringify(fs.readFileSync(path.join(server, "www/index.html"), "utf8").trim())}`);
    say(`   (${r.conflicts.length} conflict(s); the laptop's change stays in its CML until resolved.)\n`);

    say("4. A sync with no changes moves no data:");
    await sync(laptop, server);
    say(keep ? `\ndemo trees kept in ${base}` : "\ndone; the demo trees are removed (run 'intermezzo demo --keep' to look at them).");
  } finally {
    if (!keep) fs.rmSync(base, { recursive: true, force: true });
  }
}

/** Registers `demo`. */
export function register(program: Command): void {
  program
    .command("demo")
    .description("sync two file sets on this machine end to end and print what happens")
    .option("--keep", "keep the demo trees", false)
    .action((o: { keep: boolean }) => runAction("intermezzo", () => demo(o.keep)));
}
