/**
 * What an `intermezzo-sync` run uses beyond parsing its command line, in one module the command
 * loads when a run starts: `--help`, `--version` and usage errors load none of it (the bundle
 * keeps it in a chunk of its own).
 */
export { FileSet } from "../journal/fileset.js";
export { parseEndpoint } from "../ssh/remote-path.js";
export { connectLocal, connectRemote, openRemoteStream } from "../sync/connect.js";
export { syncFileSets } from "../sync/sync.js";
export { readConfig } from "../conflict/config.js";
export { startProgress } from "./progress.js";
export { conflictLine, printReport } from "./report.js";
