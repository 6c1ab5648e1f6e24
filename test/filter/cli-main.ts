/** Runs `intermezzo` from source in a child process (the FUSE server must not share the test's event loop). */
import { main } from "../../src/cli/intermezzo.js";

await main(process.argv);
