/**
 * The schema toolkit of every record, wire header and config file: TypeBox's builder and compiler
 * (one static type and one runtime check per schema) and its interpreted error listing (`Errors`,
 * for a schema checked too few times to repay compiling it), imported through this one module.
 */
export { Type } from "@sinclair/typebox";
export type { Static, TSchema } from "@sinclair/typebox";
export { TypeCompiler } from "@sinclair/typebox/compiler";
export type { TypeCheck } from "@sinclair/typebox/compiler";
export { Errors } from "@sinclair/typebox/errors";
