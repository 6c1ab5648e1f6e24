/**
 * Batched transfer of small files: many objects' whole content in one request, answered as their
 * bytes back to back (the data) and a manifest describing each in order (the reply). One request
 * instead of one per file: on a first copy of many small files the per-file request — its promise
 * and stream machinery in process, its frames and round trip on a wire — cost more than the bytes.
 *
 * Only content that moves whole anyway goes in a batch: below `DELTA_MIN` no delta is tried
 * (`delta-transfer.ts`), so a batch changes how the bytes travel, not which bytes. Anything else —
 * large content, an object whose content a local file already has (`copyLocal`), an entry the
 * sender could not serve, a batch that failed as a whole (an older peer without the operation, a
 * malformed answer) — goes through the per-file path, which checks everything again.
 *
 * What the receiver checks before anything is staged: as many entries as it asked for; every size
 * within the batch's limit; the bytes received equal to the sum of the sizes (and never more than
 * the limit while they arrive). Each item is then staged and checked against its own hash like any
 * transfer, and made durable by the window's one flush (`Holding.makeDurable`). A batch cut short
 * stages nothing.
 */
import { ImzError } from "../errors.js";
import { hashBuffer } from "../journal/content-hash.js";
import type { Content } from "../journal/records.js";
import type { StagedContent } from "./content-stream.js";
import { DELTA_MIN, type Want } from "./delta-transfer.js";
import type { Holding } from "./holding.js";
import { readSmall } from "./transfer.js";

/** Content below this size travels in batches (it moves whole anyway: see `DELTA_MIN`). */
export const BATCH_FILE_MAX = DELTA_MIN - 1;
/** Most objects in one batch. */
export const BATCH_ITEMS = 256;
/** Most content bytes one batch may carry (checked as they arrive). */
export const BATCH_BYTES = BATCH_ITEMS * BATCH_FILE_MAX;

/** One entry of a batch's manifest: the item's content description, or why it was not served. */
export type BatchEntry = Content | { error: { code: string; message: string } };

/** A batch in flight: the items' bytes back to back, and the manifest, settled once every byte is out. */
export interface ContentBatch {
  chunks: AsyncIterable<Buffer>;
  done: Promise<BatchEntry[]>;
}

/** One object asked for in a batch: its fid (the sender's), and the content wanted, when known. */
export interface BatchItem {
  fid: string;
  hash?: string;
}

/** Asks the sender for the whole content of these objects, in one batch. */
export type BatchRequest = (items: BatchItem[]) => ContentBatch;

/**
 * The sender's side: reads each object whole, with synchronous reads, and hashes what it read — or
 * states the hash of its Fsdb row, when the file is as the row describes it (`readSmall`).
 * `pick` names the object to read for an item: the one asked, or (the asked one gone) another with
 * the content wanted. An object that is not a small regular file with data here gets an error entry.
 */
export function readBatch(holding: Holding, items: readonly BatchItem[], pick: (item: BatchItem) => string = (i) => i.fid): ContentBatch {
  if (items.length > BATCH_ITEMS) throw new ImzError("FRAME_BAD_HEADER", `a batch of ${items.length} files (at most ${BATCH_ITEMS})`, { hint: "the peer's request was refused" });
  const entries: BatchEntry[] = [];
  const bodies: Buffer[] = [];
  // the batch's Fsdb look-ups (a few per item: the pick, the object, its path) share one read transaction
  holding.reading(() => {
    for (const item of items) {
      try {
        const small = readSmall(holding, pick(item), BATCH_FILE_MAX);
        if (!small) throw new ImzError("UNSUPPORTED", "too large for a batch", { hint: "sent alone" });
        // the row's hash when the file is as its row says (the receiver checks the bytes against it either way)
        entries.push({ size: small.data.length, mtimeNs: small.mtimeNs, hash: small.hash ?? hashBuffer(small.data) });
        bodies.push(small.data);
      } catch (err) {
        const e = err as Error & { code?: unknown };
        entries.push({ error: { code: typeof e.code === "string" ? e.code : "IO", message: e.message } });
      }
    }
  });
  async function* chunks(): AsyncGenerator<Buffer> {
    for (const b of bodies) if (b.length > 0) yield b;
  }
  return { chunks: chunks(), done: Promise.resolve(entries) };
}

/**
 * Receives a batch answering `asked` fids, checks its manifest against the bytes (count, sizes,
 * total), and stages each served item in a temp file checked against its hash. Returns, per item,
 * its staged content or undefined (not served, or its bytes did not match: the caller sends it
 * alone). Throws when the batch as a whole is unusable; nothing is staged then.
 */
export async function receiveBatch(holding: Holding, asked: number, batch: ContentBatch): Promise<Array<StagedContent | undefined>> {
  const limit = asked * BATCH_FILE_MAX;
  const parts: Buffer[] = [];
  let received = 0;
  // read to the end even past the limit (left unread, the rest would stay queued on the connection)
  for await (const chunk of batch.chunks) {
    received += chunk.length;
    if (received <= limit) parts.push(chunk);
  }
  if (received > limit) throw new ImzError("FRAME_TOO_LARGE", `a batch of ${asked} small files sent more than ${limit} bytes`, { hint: "the peer's answer was refused; its files are sent one by one" });
  const entries = await batch.done;
  if (entries.length !== asked) throw new ImzError("FRAME_BAD_HEADER", `a batch of ${asked} files was answered with ${entries.length} entries`, { hint: "the peer's answer was refused; its files are sent one by one" });
  let total = 0;
  for (const e of entries) {
    if ("error" in e) continue;
    if (e.size > BATCH_FILE_MAX) throw new ImzError("FRAME_BAD_HEADER", `a batch entry of ${e.size} bytes (at most ${BATCH_FILE_MAX})`, { hint: "the peer's answer was refused; its files are sent one by one" });
    total += e.size;
  }
  if (total !== received) throw new ImzError("FRAME_BAD_HEADER", `a batch's manifest describes ${total} bytes, ${received} came`, { hint: "the peer's answer was refused; its files are sent one by one" });
  const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, received);
  const files: Array<{ at: number; size: number; hash: string }> = [];
  for (let k = 0, at = 0; k < entries.length; k++) {
    const e = entries[k]!;
    if ("error" in e) continue;
    files.push({ at, size: e.size, hash: e.hash });
    at += e.size;
  }
  // hashed and written on a worker thread; a temp file is durable with the window's flush, after its ticket
  const temps = await holding.writeTemps(all, files);
  let served = 0;
  return entries.map((e) => {
    if ("error" in e) return undefined;
    const temp = temps[served++];
    return temp === undefined ? undefined : { temp, content: e, ticket: holding.stagedTicket(temp) };
  });
}

/** Whether a record's stated content is small enough for a batch (`size`: the size it states, if any). */
export function smallContent(size: number | undefined): boolean {
  return size !== undefined && size <= BATCH_FILE_MAX;
}

/**
 * Whether the transfer of `want`'s content may join a batch: small, stated, and not to be copied
 * from a local file with that content (the per-file path does that, and sends nothing).
 */
export function batchable(holding: Holding, want: Want): boolean {
  const e = want.expected;
  if (!smallContent(e?.size)) return false;
  const same = holding.set.fsdb.byHash(e!.hash);
  return !(same?.type === "f" && same.size === e!.size);
}

interface Pending {
  item: BatchItem;
  resolve: (s: StagedContent) => void;
  reject: (e: unknown) => void;
  alone: () => Promise<StagedContent>;
}

/**
 * Gathers the small transfers asked for in one turn of the event loop (at most {@link BATCH_ITEMS})
 * into batches. Each item's promise settles with its staged content; an item the batch did not
 * serve, or every item of a batch that failed as a whole, is sent alone (`alone`).
 */
export class Batcher {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly holding: Holding,
    private readonly request: BatchRequest,
  ) {}

  /** Stages the content of `item` (as the sender names it) through a batch; `alone` is its per-file transfer. */
  fetch(item: BatchItem, alone: () => Promise<StagedContent>): Promise<StagedContent> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject, alone });
      if (this.queue.length >= BATCH_ITEMS) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const items = this.queue.splice(0, BATCH_ITEMS);
    if (items.length > 0) void this.run(items);
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private async run(items: Pending[]): Promise<void> {
    let staged: Array<StagedContent | undefined>;
    try {
      staged = await receiveBatch(this.holding, items.length, this.request(items.map((i) => i.item)));
    } catch {
      staged = [];
    }
    items.forEach((item, k) => {
      const s = staged[k];
      if (s) item.resolve(s);
      else item.alone().then(item.resolve, item.reject);
    });
  }
}
