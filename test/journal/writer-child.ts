/**
 * A writer in another process, as a mount's open batch is: `writer-child.ts DB MODE` opens the
 * database, begins a write transaction, inserts a `probe` filter event and prints `ready`, then
 * after a pause ends it by MODE: `commit`; `die` (exits without committing); `busy` (commits,
 * then at once begins and holds another transaction, twenty times over, never leaving the lock free).
 */
import { openDb } from "../../src/journal/db.js";

const [file, mode] = process.argv.slice(2);
const db = openDb(file!, false);
const pause = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const probe = db.prepare(`INSERT INTO filter_events (time, kind, detail) VALUES (?, 'probe', NULL)`);
db.exec("BEGIN IMMEDIATE");
probe.run(Date.now());
process.stdout.write("ready\n");
pause(300);
if (mode === "die") process.exit(0);
for (let i = 0; i < (mode === "busy" ? 20 : 0); i++) {
  db.exec("COMMIT; BEGIN IMMEDIATE");
  probe.run(Date.now());
  pause(50);
}
db.exec("COMMIT");
db.close();
