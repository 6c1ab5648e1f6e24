/**
 * bench/resync: unjournaled resyncs of two builds of `intermezzo-sync` and `rsync -a --delete`,
 * interleaved. Each of the three has its own source and destination (a tree of small files, 7 B–4 KB,
 * 100 to a directory), synced once before the rounds. In every round each runs once, the order
 * rotating, right after its source was read once (`tar cf - … | cat`): for `10 changed`, after 10
 * files of its source were appended to. Wall time and CPU (user + system of the whole command,
 * every thread) per run; prints medians, the median of the per-round ratios (the steadier figure on
 * a shared machine), each round's ratios, and the load average before and after each round.
 * The builds are executed as a user's shell or cron runs them (their `#!` launcher).
 *
 *   node --import tsx bench/resync.ts BIN_A BIN_B [files] [rounds] ["no-change,10 changed"]
 *   e.g. bench/resync.ts /other/checkout/bin/intermezzo-sync bin/intermezzo-sync 100000 5
 */
import { execSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { makeSmallTree } from "./small-tree.js";

const [A, B] = [path.resolve(process.argv[2] ?? ""), path.resolve(process.argv[3] ?? "")];
const FILES = Number(process.argv[4] ?? 30_000);
const ROUNDS = Number(process.argv[5] ?? 5);
const KINDS = (process.argv[6] ?? "no-change,10 changed").split(",");
const DIRS = Math.max(1, Math.round(FILES / 100));
const FORMS = ["A", "B", "rsync"] as const;
type Form = (typeof FORMS)[number];

/** One run: wall seconds and CPU seconds (user + system). */
interface Run {
  wall: number;
  cpu: number;
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), "imz-resync-"));
const src = (f: Form): string => path.join(base, `src-${f}`);
const dst = (f: Form): string => path.join(base, `dst-${f}`);

/** Runs `cmd` under GNU time; throws when it fails. */
function timed(cmd: string, args: string[]): Run {
  const t = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%U %S", cmd, ...args], { encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const [u, s] = r.stderr.trim().split("\n").at(-1)!.split(" ").map(Number);
  return { wall, cpu: u! + s! };
}

function sync(f: Form): Run {
  if (f === "rsync") return timed("rsync", ["-a", "--delete", `${src(f)}/`, `${dst(f)}/`]);
  return timed(f === "A" ? A : B, [src(f), dst(f)]);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const load = (): string => os.loadavg()[0]!.toFixed(2);

try {
  for (const f of FORMS) {
    makeSmallTree(src(f), FILES, DIRS);
    fs.mkdirSync(dst(f));
    sync(f); // the first copy
    sync(f); // and one resync: each side's directories remembered unchanged
  }
  for (const kind of KINDS) {
    const runs: Record<Form, Run[]> = { A: [], B: [], rsync: [] };
    const loads: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const before = load();
      const order = [...FORMS.slice(r % 3), ...FORMS.slice(0, r % 3)];
      for (const f of order) {
        if (kind !== "no-change") {
          for (let i = 0; i < 10; i++) fs.appendFileSync(path.join(src(f), `d${String((i * 97 + r * 13) % DIRS).padStart(4, "0")}`, "f0.txt"), `change ${r}/${i}\n`);
        }
        execSync(`tar cf - . 2>/dev/null | cat > /dev/null`, { cwd: src(f) });
        runs[f].push(sync(f));
      }
      loads.push(`${before}→${load()}`);
    }
    const ratio = (f: Form, g: Form, i: number): number => runs[f][i]!.wall / runs[g][i]!.wall;
    const perRound = (f: Form, g: Form): number[] => runs[f].map((_, i) => ratio(f, g, i));
    const wall = (f: Form): string => `${median(runs[f].map((x) => x.wall)).toFixed(3)} s`;
    const cpu = (f: Form): string => median(runs[f].map((x) => x.cpu)).toFixed(3);
    console.log(`${FILES} files, ${kind}, ${ROUNDS} rounds (load ${loads[0]!.split("→")[0]}–${loads.at(-1)!.split("→")[1]}):`);
    console.log(`  medians: A ${wall("A")}, B ${wall("B")}, rsync ${wall("rsync")}; CPU A / B / rsync ${cpu("A")} / ${cpu("B")} / ${cpu("rsync")} s`);
    console.log(
      `  per-round medians: A/rsync ${median(perRound("A", "rsync")).toFixed(2)}, B/rsync ${median(perRound("B", "rsync")).toFixed(2)}, B/A ${median(perRound("B", "A")).toFixed(2)}, CPU B/A ${median(runs.B.map((x, i) => x.cpu / runs.A[i]!.cpu)).toFixed(2)}`,
    );
    for (let i = 0; i < ROUNDS; i++) {
      console.log(
        `  round ${i + 1}: A ${runs.A[i]!.wall.toFixed(3)} B ${runs.B[i]!.wall.toFixed(3)} rsync ${runs.rsync[i]!.wall.toFixed(3)} s; A/rsync ${ratio("A", "rsync", i).toFixed(2)} B/rsync ${ratio("B", "rsync", i).toFixed(2)}; load ${loads[i]}`,
      );
    }
  }
} finally {
  fs.rmSync(base, { recursive: true, force: true });
}
