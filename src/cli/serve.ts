/** `intermezzo serve --stdio DIR`: serve a file set's holder over stdin/stdout. */
import type { Command } from "commander";
import path from "node:path";
import { ImzError } from "../errors.js";
import { serveConnection } from "../sync/serve.js";
import { runAction } from "./exit.js";

/** Registers `serve`. */
export function register(program: Command): void {
  program
    .command("serve")
    .description("serve file sets: over stdin/stdout (--stdio DIR) for a sync or an SSH exec")
    .option("--stdio", "speak the protocol on stdin/stdout", false)
    .option("--no-owner", "do not set numeric ownership")
    .argument("[dir...]", "the file set(s) to serve")
    .action((dirs: string[], o: { stdio: boolean; owner: boolean }) =>
      runAction("intermezzo", async () => {
        if (!o.stdio) throw new ImzError("USAGE", "serve needs --stdio", { hint: "intermezzo serve --stdio DIR" });
        if (dirs.length !== 1) throw new ImzError("USAGE", "serve --stdio takes exactly one file set directory", { hint: "intermezzo serve --stdio DIR" });
        const root = path.resolve(dirs[0]!);
        await serveConnection(process.stdin, process.stdout, () => root, { owner: o.owner });
      }),
    );
}
