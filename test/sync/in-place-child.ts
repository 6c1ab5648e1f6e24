/**
 * A process killed in the middle of an in-place change: `in-place-child.ts ROOT NAME AT HEX MODE`
 * writes the bytes HEX at offset AT of file NAME of file set ROOT in place (`sync/in-place.ts`),
 * then, by MODE: `kill` (SIGKILL before anything is recorded) or `commit` (records the new content
 * hash in the Fsdb, as a batch's commit does, then SIGKILL before the undo file goes).
 */
import fs from "node:fs";
import { hashFile } from "../../src/journal/content-hash.js";
import { FileSet } from "../../src/journal/fileset.js";
import { ROOT_FID } from "../../src/journal/records.js";
import { Holding } from "../../src/sync/holding.js";
import { InPlace } from "../../src/sync/in-place.js";

const [root, name, at, hex, mode] = process.argv.slice(2);
const set = FileSet.open(root!);
const holding = new Holding(set);
const o = set.fsdb.child(ROOT_FID, name!)!;
const data = Buffer.from(hex!, "hex");
const temp = holding.tempPath();
fs.writeFileSync(temp, data);
const file = `${root}/${name}`;
const size = Math.max(o.size, Number(at) + data.length);
new InPlace(holding).patch(o, { temp, baseHash: o.hash, ranges: [[Number(at), data.length]], size, hash: "00" }, () => undefined);
if (mode === "commit") set.transaction(() => set.fsdb.put({ ...o, hash: "00", size }));
void hashFile(file).then(() => process.kill(process.pid, "SIGKILL"));
