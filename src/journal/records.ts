/**
 * Journal record types: the CML's update records and the server log's accepted records.
 *
 * Every record names the objects it touches by fid and carries the *base version* of each object
 * it depends on, so the server can check that it is changing the version the client saw (the
 * paper's Coda-style concurrency check). Schemas are TypeBox, so one definition gives the static
 * type, the journal's decoder and the wire protocol's header check.
 */
import { Errors, Type, type Static, type TSchema, TypeCompiler, type TypeCheck } from "../schema.js";
import { ImzError } from "../errors.js";
import { checkXattrsSize, XattrsSchema } from "./xattrs.js";
import { MAX_EXTENTS } from "./extents.js";

/** The root directory's fid in every file set. */
export const ROOT_FID = "root";

/** Object id: `<replica id>:<counter>`, or {@link ROOT_FID}. */
export const FidSchema = Type.String({ minLength: 1, maxLength: 80, pattern: "^(root|[0-9a-f]{1,32}:[0-9]{1,16})$" });
/** Version stamp `<server replica id>:<server log sequence>`; "" for an object the server has never stamped. */
export const VersionSchema = Type.String({ maxLength: 80, pattern: "^([0-9a-f]{1,32}:[0-9]{1,16})?$" });
/** One path component (checked again, byte-wise, where it meets the disk). */
export const NameSchema = Type.String({ minLength: 1, maxLength: 1024 });
/** Nanoseconds since the epoch as a decimal string (exceeds 2^53). */
export const NanosSchema = Type.String({ maxLength: 24, pattern: "^-?[0-9]{1,22}$" });
/** Whole-file content hash (hex BLAKE2b-256), "" when unknown. */
export const HashSchema = Type.String({ maxLength: 128, pattern: "^[0-9a-f]*$" });

/** Attributes a record can set. Absent fields are left as they are. */
export const AttrsSchema = Type.Object(
  {
    mode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o7777 })),
    uid: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff })),
    gid: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff })),
    mtimeNs: Type.Optional(NanosSchema),
    /** The object's whole set of replicated extended attributes and ACLs after the change (`xattrs.ts`). */
    xattrs: Type.Optional(XattrsSchema),
  },
  { additionalProperties: false },
);
/** See {@link AttrsSchema}. */
export type Attrs = Static<typeof AttrsSchema>;

/** File content as a close (or a create that folded its close) describes it. */
export const ContentSchema = Type.Object(
  { size: Type.Integer({ minimum: 0 }), mtimeNs: NanosSchema, hash: HashSchema },
  { additionalProperties: false },
);
/** See {@link ContentSchema}. */
export type Content = Static<typeof ContentSchema>;

const common = {
  /** Position in the log that holds it (CML sequence or server log volume stamp). */
  seq: Type.Integer({ minimum: 0 }),
  /** Replica that made the change. */
  origin: Type.String({ maxLength: 32, pattern: "^[0-9a-f]{1,32}$" }),
  /** The origin's own sequence number of the change (its CML seq): lets the server recognise a retry. */
  originSeq: Type.Integer({ minimum: 0 }),
  /** Wall-clock time of the change, ms since the epoch. */
  time: Type.Integer({ minimum: 0 }),
  fid: FidSchema,
};

const placed = { parent: FidSchema, name: NameSchema };

function rec<K extends string, P extends Record<string, TSchema>>(op: K, props: P) {
  return Type.Object({ op: Type.Literal(op), ...common, ...props }, { additionalProperties: false });
}

/** A new regular file; `content` present when its first close was folded in. */
export const CreateSchema = rec("create", { ...placed, attrs: AttrsSchema, content: Type.Optional(ContentSchema) });
/** A new directory. */
export const MkdirSchema = rec("mkdir", { ...placed, attrs: AttrsSchema });
/** A new symbolic link (never followed). */
export const SymlinkSchema = rec("symlink", { ...placed, target: Type.String({ minLength: 1, maxLength: 4096 }), attrs: AttrsSchema });
/**
 * A special file, as `ls -l` would type it: `p` a FIFO, `s` a socket, `c:RDEV` / `b:RDEV` a character
 * or block device with its device number (`st_rdev`).
 */
export const SpecialSchema = Type.String({ maxLength: 24, pattern: "^(p|s|[cb]:[0-9]{1,20})$" });
/** A new special file (FIFO, socket, device: `mknod`). */
export const MknodSchema = rec("mknod", { ...placed, special: SpecialSchema, attrs: AttrsSchema });
/** A new name for an existing file `target` (a hard link); `fid` is the new name's object. */
export const LinkSchema = rec("link", { ...placed, target: FidSchema, targetBase: VersionSchema });
/** Removal of a file or symlink name. */
export const UnlinkSchema = rec("unlink", { ...placed, base: VersionSchema });
/** Removal of an (empty) directory. */
export const RmdirSchema = rec("rmdir", { ...placed, base: VersionSchema });
/** Move of an object; `replaced`/`replacedBase` name the object a rename over an existing name removes. */
export const RenameSchema = rec("rename", {
  ...placed,
  newParent: FidSchema,
  newName: NameSchema,
  base: VersionSchema,
  replaced: Type.Optional(FidSchema),
  replacedBase: Type.Optional(VersionSchema),
});
/** Attribute change (chmod, chown, utimes). */
export const SetattrSchema = rec("setattr", { base: VersionSchema, attrs: AttrsSchema });
/**
 * The byte ranges a close changed since its base version (`journal/extents.ts`): `baseHash` is the
 * content hash of that version, `ranges` the `[offset, length]` pairs of the new content that differ
 * from it (sorted, apart, every byte past the base's size included). Absent when unknown.
 */
export const ExtentsSchema = Type.Object(
  {
    baseHash: Type.String({ minLength: 1, maxLength: 128, pattern: "^[0-9a-f]*$" }),
    ranges: Type.Array(Type.Tuple([Type.Integer({ minimum: 0 }), Type.Integer({ minimum: 1 })]), { maxItems: MAX_EXTENTS }),
  },
  { additionalProperties: false },
);
/** See {@link ExtentsSchema}. */
export type CloseExtents = Static<typeof ExtentsSchema>;

/**
 * A file closed after writing: its content is now `content` (backfetched by the server); `extents`
 * when the filter saw every write since `base` (issue 13: the transfer then moves only those bytes).
 */
export const CloseSchema = rec("close", { base: VersionSchema, content: ContentSchema, extents: Type.Optional(ExtentsSchema) });

/** Any journal record. */
export const RecordSchema = Type.Union([
  CreateSchema,
  MkdirSchema,
  SymlinkSchema,
  MknodSchema,
  LinkSchema,
  UnlinkSchema,
  RmdirSchema,
  RenameSchema,
  SetattrSchema,
  CloseSchema,
]);

/** A journal record: a discriminated union on `op`. */
export type JournalRecord = Static<typeof RecordSchema>;
/** The record operations. */
export type RecordOp = JournalRecord["op"];
/** The record with operation `K`. */
export type RecordOf<K extends RecordOp> = Extract<JournalRecord, { op: K }>;
/** A record before the journal gives it a sequence number and origin. */
export type NewRecord = JournalRecord extends infer R ? (R extends JournalRecord ? Omit<R, "seq" | "origin" | "originSeq"> : never) : never;

/** An accepted record in the server log: the record and the version stamp it gave its object. */
export const LoggedSchema = Type.Object(
  { record: RecordSchema, version: VersionSchema },
  { additionalProperties: false },
);
/** See {@link LoggedSchema}. */
export type LoggedRecord = Static<typeof LoggedSchema>;

const BY_OP: Record<string, TSchema> = {
  create: CreateSchema, mkdir: MkdirSchema, symlink: SymlinkSchema, mknod: MknodSchema, link: LinkSchema, unlink: UnlinkSchema,
  rmdir: RmdirSchema, rename: RenameSchema, setattr: SetattrSchema, close: CloseSchema,
};
let checkRecord: TypeCheck<typeof RecordSchema> | undefined;
/**
 * Records checked by TypeBox's interpreter before the check is compiled: compiling the union costs
 * about 8 ms, the interpreter's first check about 3 ms and each one after ~15 µs (the compiled
 * check a few), so a run that handles a few records (a resync of a few changes) never compiles.
 */
const INTERPRETED_CHECKS = 256;
let interpreted = 0;
/** Whether `value` is a record: interpreted for the first few, compiled after (the same schema, the same answer). */
function isRecord(value: unknown): value is JournalRecord {
  if (checkRecord === undefined && interpreted < INTERPRETED_CHECKS) {
    interpreted++;
    // TypeBox's Errors of a union starts with its interpreted Check (its module is bundled anyway)
    return Errors(RecordSchema, value).First() === undefined;
  }
  return (checkRecord ??= TypeCompiler.Compile(RecordSchema)).Check(value);
}

/** Validates an untrusted value as a journal record; throws `RECORD_INVALID` with the first problem. */
export function parseRecord(value: unknown): JournalRecord {
  if (isRecord(value)) {
    if ("attrs" in value && value.attrs.xattrs !== undefined) checkXattrsSize(value.attrs.xattrs);
    return value;
  }
  const op = typeof value === "object" && value !== null ? String((value as { op?: unknown }).op) : typeof value;
  // the first problem by its op's schema (interpreted: a refusal is rare), or by the union's
  const first = Errors(BY_OP[op] ?? RecordSchema, value).First();
  throw new ImzError("RECORD_INVALID", `invalid ${op} record: ${first ? `${first.path || "/"} ${first.message}` : "bad shape"}`, {
    hint: "the journal or the peer sent a record this version does not understand",
  });
}

/** The fids a record's parent fields refer to (where it places or removes a name). */
export function parentsOf(r: JournalRecord): string[] {
  switch (r.op) {
    case "create":
    case "mkdir":
    case "symlink":
    case "mknod":
    case "link":
    case "unlink":
    case "rmdir":
      return [r.parent];
    case "rename":
      return r.parent === r.newParent ? [r.parent] : [r.parent, r.newParent];
    case "setattr":
    case "close":
      return [];
  }
}

/** Every fid a record mentions (object, parents, link target, replaced object). */
export function fidsOf(r: JournalRecord): string[] {
  const out = [r.fid, ...parentsOf(r)];
  if (r.op === "link") out.push(r.target);
  if (r.op === "rename" && r.replaced !== undefined) out.push(r.replaced);
  return out;
}

/**
 * The record with every fid it mentions (object, parents, link target, replaced object) passed
 * through `map` — how an adopted object's fid is rewritten on either side.
 */
export function mapFids(r: JournalRecord, map: (fid: string) => string): JournalRecord {
  const out = { ...r, fid: map(r.fid) } as JournalRecord & Record<string, unknown>;
  for (const k of ["parent", "newParent", "target", "replaced"] as const) {
    const v = (r as Record<string, unknown>)[k];
    if (typeof v === "string" && (k !== "target" || r.op === "link")) out[k] = map(v);
  }
  return out;
}

/** True for records whose replay needs the file's content (a close, or a create with data). */
export function carriesContent(r: JournalRecord): boolean {
  return r.op === "close" || (r.op === "create" && r.content !== undefined && r.content.size > 0);
}

/** A pending record without its CML numbering, to journal again (`seq`, `origin` and `originSeq` are given anew). */
export function unnumbered(r: JournalRecord): NewRecord {
  const { seq: _seq, origin: _origin, originSeq: _originSeq, ...rest } = r;
  return rest as NewRecord;
}
