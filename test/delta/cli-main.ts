/** Runs the real `intermezzo` program from source (what bin/intermezzo runs from dist). */
import { main } from "../../src/cli/intermezzo.js";

await main(process.argv);
