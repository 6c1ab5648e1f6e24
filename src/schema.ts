/**
 * The schema toolkit of every record, wire header and config file: TypeBox's builder and compiler
 * (one static type and one runtime check per schema), imported through this one module.
 */
export { Type } from "@sinclair/typebox";
export type { Static, TSchema } from "@sinclair/typebox";
export { TypeCompiler } from "@sinclair/typebox/compiler";
export type { TypeCheck } from "@sinclair/typebox/compiler";
