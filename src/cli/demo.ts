/**
 * `intermezzo demo`: the main job end to end on an embedded default — two file sets on this machine
 * (a laptop replica and a server holder), synced two ways through the real protocol, with a
 * rename, a delete, and a conflict settled by each automatic policy and by hand — printing what
 * each step did and the conflict log's entries; then one holder mirrored to three replicas at once.
 */
import type { Command } from "commander";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { settleConflict } from "../conflict/settle.js";
import type { Policy } from "../conflict/policy.js";
import { readConflicts } from "../conflict/store.js";
import { FileSet } from "../journal/fileset.js";
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

async function sync(laptop: string, server: string, policy?: Policy): Promise<SyncReport> {
  const peer = await connectLocal(server, "stdio", true);
  const r = await syncFileSets(laptop, peer, {
    dryRun: false, mirror: false, maxDeleteFraction: 0.5, force: false, owner: true, replicaIsSrc: true, ...(policy ? { policies: [policy] } : {}),
  });
  say(`  -> laptop to server: ${r.recordsShipped} record(s) reintegrated, ${r.filesSent} file(s) / ${human(r.bytesSent)} backfetched`);
  say(`  <- server to laptop: ${r.recordsApplied} update(s) applied, ${r.filesReceived} file(s) / ${human(r.bytesReceived)} fetched`);
  say(`     ${human(r.wire.sent + r.wire.received)} on the wire in ${r.durationMs} ms`);
  for (const c of r.conflicts) say(`  !! conflict (${c.kind}) at ${c.path}: ${c.detail}; policy ${c.policy ?? "none"}, ${c.status === "open" ? "parked" : `winner ${c.winner ?? "?"}`}`);
  return r;
}

/** One `--mirror` run from the holder `server` to its replica `web`. */
async function mirror(web: string, server: string): Promise<SyncReport> {
  const r = await syncFileSets(web, await connectLocal(server, "in-process", true), {
    dryRun: false, mirror: true, maxDeleteFraction: 0.5, force: false, owner: true, replicaIsSrc: false,
  });
  say(`  -> ${path.basename(web)}: ${r.recordsApplied} update(s) applied, ${r.filesReceived} file(s) / ${human(r.bytesReceived)} fetched, ${r.conflicts.length} change(s) reverted`);
  return r;
}

function text(root: string, rel: string): string {
  return JSON.stringify(fs.readFileSync(path.join(root, rel), "utf8").trim());
}

/** The conflict log's newest entry about `rel` in `root`, as one short JSON line. */
function logEntry(root: string, rel: string): string {
  const set = FileSet.open(root);
  try {
    const e = readConflicts(set).findLast((x) => x.path === rel);
    if (!e) return "(none)";
    const { id, status, kind, policy, winner, stored, aside, resolvedAs } = e;
    return JSON.stringify({ id, status, kind, policy, winner, stored, aside, resolvedAs });
  } finally {
    set.close();
  }
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

    say("3. Both sides edit the same page before a sync: a conflict, settled by each automatic policy in turn.");
    say("   Nothing is lost: the version that loses is kept under .intermezzo/conflicts/ and logged in conflicts.log.");
    const policies: Array<[Policy, string]> = [
      ["server", "the server's copy wins (the paper's web-replication rule)"],
      ["client", "the laptop's copy wins; the server keeps its old one"],
      ["newer", "the newer mtime wins (the laptop's edit here is older)"],
      ["both", "both stay: the laptop's beside the server's as a conflict copy"],
    ];
    for (const [policy, what] of policies) {
      const page = `www/${policy}.html`;
      put(laptop, page, "<p>original</p>\n");
      await sync(laptop, server);
      put(laptop, page, `<p>${policy}: edited on the laptop</p>\n`);
      if (policy === "newer") fs.utimesSync(path.join(laptop, page), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
      put(server, page, `<p>${policy}: edited on the server</p>\n`);
      say(`\n   --policy ${policy}: ${what}`);
      const r = await sync(laptop, server, policy);
      say(`   laptop: ${page} = ${text(laptop, page)};  server: ${page} = ${text(server, page)}`);
      const aside = r.conflicts[0]?.aside;
      if (aside) say(`   both sides also have ${aside} = ${text(laptop, aside)}`);
      say(`   laptop's conflicts.log: ${logEntry(laptop, page)}`);
      if (policy === "client") say(`   server's conflicts.log: ${logEntry(server, page)}`);
    }

    say("\n   --policy manual parks the laptop's version; 'intermezzo resolve --keep client' settles it by hand:");
    put(laptop, "www/index.html", "<h1>hello from the laptop</h1>\n");
    put(server, "www/index.html", "<h1>hello from the server</h1>\n");
    await sync(laptop, server, "manual");
    say(`   after the sync both show ${text(laptop, "www/index.html")}; open: ${logEntry(laptop, "www/index.html")}`);
    const set = FileSet.open(laptop);
    try {
      await settleConflict(set, "www/index.html", { side: "client" });
    } finally {
      set.close();
    }
    await sync(laptop, server);
    say(`   resolved: both show ${text(server, "www/index.html")}; ${logEntry(laptop, "www/index.html")}\n`);

    say("4. A sync with no changes moves no data:");
    await sync(laptop, server);

    say("\n5. The server's tree mirrored to three web hosts at once (--mirror: the server holds, each host is");
    say("   its replica, kept an exact copy); the holder serves all three together.");
    const webs = ["web1", "web2", "web3"].map((n) => path.join(base, n));
    for (const w of webs) fs.mkdirSync(w);
    await Promise.all(webs.map((w) => mirror(w, server)));
    say("   Someone defaces web2; the next cron run reverts it, keeps the defaced page, and reports it (exit 3):");
    put(webs[1]!, "www/index.html", "<h1>defaced</h1>\n");
    put(server, "www/news.html", "<p>more news</p>\n");
    const reports = await Promise.all(webs.map((w) => mirror(w, server)));
    for (const c of reports.flatMap((r) => r.conflicts)) say(`   !! ${c.kind} at ${c.path}: ${c.detail}; kept as ${c.stored ?? "(nothing to keep)"}`);
    say(`   web2: www/index.html = ${text(webs[1]!, "www/index.html")}; the server lists its replicas:`);
    const held = FileSet.open(server);
    try {
      for (const r of held.replicas.list()) say(`     ${r.replica} at ${r.place}, last seen volume ${r.lastSeen}`);
    } finally {
      held.close();
    }
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
