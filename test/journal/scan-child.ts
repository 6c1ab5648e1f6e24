/**
 * Runs the scanner in a child process (the scanner test starts it as an unprivileged user, so that
 * a `chmod 000` directory is really unreadable): `init ROOT` makes a replica and journals its
 * baseline (then drops it); `scan ROOT` scans and prints the report and the CML as JSON.
 */
import { scan } from "../../src/filter/scanner.js";
import { FileSet } from "../../src/journal/fileset.js";

const [mode, root] = process.argv.slice(2);
if (mode === "init") {
  const set = FileSet.init(root!, { role: "replica" });
  await scan(set);
  set.cml.drop(set.cml.all().map((r) => r.seq));
  set.close();
  process.stdout.write("{}\n");
} else {
  const set = FileSet.open(root!);
  const report = await scan(set);
  const records = set.cml.all().map((r) => ({ op: r.op, name: "name" in r ? r.name : null }));
  set.close();
  process.stdout.write(JSON.stringify({ report, records }) + "\n");
}
