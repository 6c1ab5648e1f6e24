/**
 * Lento's operations on the wire: the schema of every request header and reply, checked on
 * arrival (nothing from the peer is trusted unchecked). Shared by the client (`wire-peer.ts`) and the
 * server (`serve.ts`).
 */
import { Type, type Static, type TSchema, TypeCompiler } from "../schema.js";
import { CONFLICT_KINDS } from "../conflict/detect.js";
import { ImzError } from "../errors.js";
import { BATCH_ITEMS } from "./batch-transfer.js";
import { ContentSchema, ExtentsSchema, FidSchema, HashSchema, LoggedSchema, NanosSchema, RecordSchema, VersionSchema } from "../journal/records.js";
import { XATTR_SET_MAX } from "../journal/xattrs.js";

/** The software speaking the protocol, sent in the hello. */
export const SOFTWARE = "intermezzo/0.1.0";

const Replica = Type.String({ pattern: "^[0-9a-f]{1,32}$" });
const ProblemSchema = Type.Object({ path: Type.String(), code: Type.String(), message: Type.String() });
/** A request for a close's written extents: the bytes of `ranges` of content `hash` (`size` bytes). */
const ExtentsAskSchema = Type.Object(
  { ranges: ExtentsSchema.properties.ranges, size: Type.Integer({ minimum: 0 }), hash: HashSchema },
  { additionalProperties: false },
);

const BatchItemSchema = Type.Object({ fid: FidSchema, hash: Type.Optional(HashSchema) }, { additionalProperties: false });

/** The replica-side sync options a holder sends with `sync` and `live`. */
const RemoteSyncOptionsSchema = Type.Object({
  dryRun: Type.Boolean(),
  mirror: Type.Boolean(),
  maxDeleteFraction: Type.Number({ minimum: 0, maximum: 1 }),
  force: Type.Boolean(),
  owner: Type.Boolean(),
  replicaIsSrc: Type.Boolean(),
  policies: Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 100 }),
});

/** Request headers, by op. */
export const Requests = {
  attach: Type.Object({
    op: Type.Literal("attach"),
    fileset: Type.Optional(Type.String({ maxLength: 4096 })),
    replica: Replica,
    filesetId: Type.Union([Type.String({ pattern: "^[0-9a-f]{1,32}$" }), Type.Null()]),
    expectHolder: Type.Boolean(),
    scan: Type.Object({ scan: Type.Boolean(), maxDeleteFraction: Type.Number({ minimum: 0, maximum: 1 }), force: Type.Boolean() }),
    dryRun: Type.Boolean(),
    lastSeen: Type.Optional(Type.Integer({ minimum: 0 })),
    where: Type.Optional(Type.String({ maxLength: 4096 })),
    guard: Type.Optional(
      Type.Object({
        source: Type.Union([Type.Literal("holder"), Type.Literal("replica")]),
        mirror: Type.Boolean(),
        replicaEmpty: Type.Boolean(),
        replicaSynced: Type.Boolean(),
      }),
    ),
  }),
  applied: Type.Object({ op: Type.Literal("applied"), replica: Replica, fromSeq: Type.Integer({ minimum: 0 }) }),
  reintegrate: Type.Object({
    op: Type.Literal("reintegrate"),
    records: Type.Array(RecordSchema, { maxItems: 5000 }),
    keep: Type.Optional(Type.String({ maxLength: 64 })),
  }),
  updates: Type.Object({ op: Type.Literal("updates"), since: Type.Integer({ minimum: 0 }), limit: Type.Integer({ minimum: 1 }) }),
  /** `signature`: the request carries an upload, the signature of the requester's basis; the answer is a delta. */
  /** `hash`: the content wanted; the holder may serve another object with it when `fid` is gone. */
  /** `extents`: the requester holds the base of a close's written extents and asks for their bytes (`extents-transfer.ts`). */
  fetch: Type.Object({
    op: Type.Literal("fetch"),
    fid: FidSchema,
    signature: Type.Optional(Type.Boolean()),
    extents: Type.Optional(ExtentsAskSchema),
    hash: Type.Optional(HashSchema),
  }),
  backfetch: Type.Object({ op: Type.Literal("backfetch"), fid: FidSchema, signature: Type.Optional(Type.Boolean()), extents: Type.Optional(ExtentsAskSchema) }),
  /** Many small objects' whole content in one answer (`batch-transfer.ts`); `hash` as for `fetch`. */
  fetchBatch: Type.Object({ op: Type.Literal("fetchBatch"), items: Type.Array(BatchItemSchema, { minItems: 1, maxItems: BATCH_ITEMS }) }),
  backfetchBatch: Type.Object({ op: Type.Literal("backfetchBatch"), items: Type.Array(BatchItemSchema, { minItems: 1, maxItems: BATCH_ITEMS }) }),
  getattr: Type.Object({ op: Type.Literal("getattr"), fids: Type.Array(FidSchema, { maxItems: 5000 }) }),
  objects: Type.Object({ op: Type.Literal("objects"), after: Type.Union([FidSchema, Type.Literal("")]), limit: Type.Integer({ minimum: 1 }) }),
  presign: Type.Object({ op: Type.Literal("presign"), fids: Type.Array(FidSchema, { maxItems: 5000 }) }),
  close: Type.Object({ op: Type.Literal("close"), lastSeen: Type.Optional(Type.Integer({ minimum: 0 })) }),
  /** A callback on the file set from now on (a live replica): the holder sends `break` requests. */
  watch: Type.Object({ op: Type.Literal("watch") }),
  /** GetPermit: the permit to update these objects (a live replica). */
  permit: Type.Object({ op: Type.Literal("permit"), fids: Type.Array(FidSchema, { minItems: 1, maxItems: 1000 }) }),
  /** Holder → replica: BreakCallback; the log now ends at `volume` (answered once applied up to it). */
  break: Type.Object({
    op: Type.Literal("break"),
    volume: Type.Integer({ minimum: 0 }),
    fids: Type.Array(FidSchema, { maxItems: 1000 }),
    all: Type.Optional(Type.Boolean()),
  }),
  /** Holder → replica: give back these objects' permits (answered once their writes are reintegrated). */
  revoke: Type.Object({ op: Type.Literal("revoke"), fids: Type.Array(FidSchema, { minItems: 1, maxItems: 1000 }) }),
  /** The holder asks this side to sync as its replica (the remote end of a push mirror). */
  sync: Type.Object({ op: Type.Literal("sync"), options: RemoteSyncOptionsSchema }),
  /**
   * The holder asks this side to stay live as its replica (`intermezzo-sync --watch` on a push
   * mirror's holder, `push-live.ts`): answered only when the attachment stops for good.
   */
  live: Type.Object({ op: Type.Literal("live"), options: RemoteSyncOptionsSchema }),
};

/** An Fsdb object as `getattr` returns it. */
const ObjectSchema = Type.Object(
  {
    fid: FidSchema,
    type: Type.Union([Type.Literal("f"), Type.Literal("d"), Type.Literal("l"), Type.Literal("s")]),
    parent: Type.Union([FidSchema, Type.Null()]),
    name: Type.String({ maxLength: 1024 }),
    version: VersionSchema,
    size: Type.Integer({ minimum: 0 }),
    mtimeNs: NanosSchema,
    mode: Type.Integer({ minimum: 0, maximum: 0o177777 }),
    uid: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    gid: Type.Integer({ minimum: 0, maximum: 0xffffffff }),
    hash: HashSchema,
    target: Type.Union([Type.String({ maxLength: 4096 }), Type.Null()]),
    flags: Type.Integer({ minimum: 0 }),
    ino: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
    ctimeNs: Type.Union([Type.String({ maxLength: 32 }), Type.Null()]),
    /** Its extended attributes as the Fsdb keeps them (`xattrsText`), checked again where a record is made of them. */
    xattrs: Type.String({ maxLength: 4 * XATTR_SET_MAX }),
  },
  { additionalProperties: false },
);

/** What one exchange did (the fields of `SyncTally`), part of a sync's report. */
const TallyProperties = {
  recordsShipped: Type.Integer({ minimum: 0 }),
  recordsApplied: Type.Integer({ minimum: 0 }),
  filesSent: Type.Integer({ minimum: 0 }),
  bytesSent: Type.Integer({ minimum: 0 }),
  filesReceived: Type.Integer({ minimum: 0 }),
  bytesReceived: Type.Integer({ minimum: 0 }),
  bytesExpected: Type.Integer({ minimum: 0 }),
  conflicts: Type.Array(
    Type.Object({
      path: Type.String(),
      kind: Type.Union(CONFLICT_KINDS.map((k) => Type.Literal(k))),
      detail: Type.String(),
      side: Type.Union([Type.Literal("holder"), Type.Literal("replica")]),
      policy: Type.Optional(Type.Union([Type.Literal("server"), Type.Literal("client"), Type.Literal("newer"), Type.Literal("both"), Type.Literal("manual")])),
      winner: Type.Optional(Type.Union([Type.Literal("server"), Type.Literal("client"), Type.Literal("both")])),
      status: Type.Optional(Type.Union([Type.Literal("open"), Type.Literal("auto")])),
      stored: Type.Optional(Type.String()),
      aside: Type.Optional(Type.String()),
      id: Type.Optional(Type.String({ maxLength: 64 })),
    }),
  ),
  problems: Type.Array(ProblemSchema),
};

/** Reply results, by op. */
export const Replies = {
  attach: Type.Object({
    filesetId: Type.String(),
    holder: Replica,
    name: Type.String(),
    volume: Type.Integer({ minimum: 0 }),
    scanned: Type.Object({ records: Type.Integer({ minimum: 0 }), problems: Type.Array(ProblemSchema) }),
    empty: Type.Optional(Type.Boolean()),
  }),
  applied: Type.Array(Type.Object({ originSeq: Type.Integer({ minimum: 0 }), fid: FidSchema, version: VersionSchema })),
  reintegrate: Type.Object({
    results: Type.Array(
      Type.Object({
        seq: Type.Integer({ minimum: 0 }),
        status: Type.Union([Type.Literal("applied"), Type.Literal("identical"), Type.Literal("conflict"), Type.Literal("failed")]),
        fid: Type.Optional(FidSchema),
        version: Type.Optional(VersionSchema),
        conflict: Type.Optional(Type.String()),
        detail: Type.Optional(Type.String()),
      }),
    ),
    volume: Type.Integer({ minimum: 0 }),
  }),
  updates: Type.Object({
    records: Type.Array(LoggedSchema),
    volume: Type.Integer({ minimum: 0 }),
    more: Type.Boolean(),
    compacted: Type.Optional(Type.Boolean()),
  }),
  objects: Type.Object({ objects: Type.Array(ObjectSchema, { maxItems: 5000 }), volume: Type.Integer({ minimum: 0 }), more: Type.Boolean() }),
  content: ContentSchema,
  /** A batch's manifest: per object asked, in order, its content's description or why it was not served. */
  batch: Type.Array(
    Type.Union([ContentSchema, Type.Object({ error: Type.Object({ code: Type.String({ maxLength: 64 }), message: Type.String({ maxLength: 4096 }) }) }, { additionalProperties: false })]),
    { maxItems: BATCH_ITEMS },
  ),
  getattr: Type.Array(Type.Union([ObjectSchema, Type.Null()]), { maxItems: 5000 }),
  presign: Type.Null(),
  watch: Type.Null(),
  permit: Type.Object({ granted: Type.Boolean(), volume: Type.Integer({ minimum: 0 }) }),
  break: Type.Null(),
  revoke: Type.Null(),
  sync: Type.Object({
    ...TallyProperties,
    holder: Type.Union([Type.Literal("src"), Type.Literal("dest")]),
    scanned: Type.Object({ replica: Type.Integer({ minimum: 0 }), holder: Type.Integer({ minimum: 0 }) }),
    wire: Type.Object({ sent: Type.Integer({ minimum: 0 }), received: Type.Integer({ minimum: 0 }) }),
    durationMs: Type.Integer({ minimum: 0 }),
    itemized: Type.Optional(Type.Array(Type.String())),
  }),
  live: Type.Null(),
  close: Type.Null(),
};

/**
 * Replica → holder one-way messages of a remote replica kept live (`live`): what it did, for the
 * holder's output (the replica's host has nobody watching its terminal).
 */
export const LiveEvent = Type.Union([
  Type.Object({ op: Type.Literal("live"), event: Type.Literal("first"), report: Replies.sync }),
  Type.Object({ op: Type.Literal("live"), event: Type.Literal("exchange"), tally: Type.Object(TallyProperties) }),
  Type.Object({ op: Type.Literal("live"), event: Type.Literal("state"), state: Type.String({ maxLength: 32 }), error: Type.Optional(Type.String()) }),
  Type.Object({
    op: Type.Literal("live"),
    event: Type.Literal("error"),
    error: Type.Object({ code: Type.String({ maxLength: 64 }), message: Type.String(), hint: Type.Optional(Type.String()), path: Type.Optional(Type.String()) }),
  }),
]);

const cache = new Map<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

/** Checks `value` against `schema`; throws `FRAME_BAD_HEADER` naming the first problem. */
export function check<S extends TSchema>(schema: S, value: unknown, what: string): Static<S> {
  let c = cache.get(schema);
  if (!c) cache.set(schema, (c = TypeCompiler.Compile(schema)));
  if (c.Check(value)) return value as Static<S>;
  const e = c.Errors(value).First();
  throw new ImzError("FRAME_BAD_HEADER", `malformed ${what}: ${e ? `${e.path || "/"} ${e.message}` : "bad shape"}`, {
    hint: "the peer sent something this version does not accept; nothing was applied",
  });
}
