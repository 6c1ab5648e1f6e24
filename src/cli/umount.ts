/** `intermezzo umount MOUNTPOINT`: unmount a Presto mount; its process journals what is pending and exits. */
import type { Command } from "commander";
import { fusermountU } from "../filter/fuse-adapter.js";
import { runAction } from "./exit.js";

/** Registers `umount`. */
export function register(program: Command): void {
  program
    .command("umount")
    .description("unmount a file set mounted with 'intermezzo mount'")
    .argument("<mountpoint>", "where it is mounted")
    .action((mountpoint: string) => runAction("intermezzo", () => fusermountU(mountpoint)));
}
