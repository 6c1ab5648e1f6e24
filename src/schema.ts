/**
 * The schema toolkit of every record, wire header and config file: TypeBox's builder and compiler
 * (one static type and one runtime check per schema). Everything imports TypeBox through this one
 * module so that the build can ship it as a single file (`npm run build` bundles it with esbuild):
 * Node's ESM loader takes 0.15–0.3 s to load TypeBox's 218 modules at every start of a command,
 * and 20–40 ms to load them as one.
 */
export { Type } from "@sinclair/typebox";
export type { Static, TSchema } from "@sinclair/typebox";
export { TypeCompiler } from "@sinclair/typebox/compiler";
export type { TypeCheck } from "@sinclair/typebox/compiler";
