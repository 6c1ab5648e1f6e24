/**
 * The channel between a replica's Presto (its mount process) and its Lento (the `--watch` process
 * attached live to the holder): a Unix socket at `.intermezzo/lento.sock`, speaking the framed
 * protocol. Presto asks Lento for a permit before a program writes to a file (the paper's
 * `lento_getpermit` upcall); Lento asks Presto to release an object whose permit the holder takes
 * back: Presto answers once no program has it open for writing and its records are committed.
 *
 * The socket exists only while Lento is attached; a mount that finds none works without permits,
 * as a disconnected replica does. The socket is as private as `.intermezzo/` (mode 0700 directory).
 */
import fs from "node:fs";
import net from "node:net";
import { Type } from "../schema.js";
import { FidSchema } from "../journal/records.js";
import { Connection, type Handler } from "../ssh/connection.js";
import { check, SOFTWARE } from "./protocol.js";
import { metaSocketPath, UPCALL_SOCKET } from "./sockets.js";
import type { UpcallProvider } from "../filter/mount.js";
import type { Presto } from "../filter/presto.js";


const PermitRequest = Type.Object({ op: Type.Literal("permit"), fid: FidSchema });
const PermitReply = Type.Object({ granted: Type.Boolean() });
const ReleaseRequest = Type.Object({ op: Type.Literal("release"), fids: Type.Array(FidSchema, { minItems: 1, maxItems: 1000 }) });
const ReleaseReply = Type.Null();

/** Lento's end: serves Presto's permit upcalls and reaches every connected Presto to release objects. */
export interface UpcallServer {
  /** Asks every connected mount to release `fids` (no writer left, records committed). */
  release(fids: string[]): Promise<void>;
  close(): Promise<void>;
}

/** Listens at the file set's upcall socket; `permit` answers whether Lento now holds the object's permit. */
export async function serveUpcalls(root: string, permit: (fid: string) => Promise<boolean>, onError: (err: unknown) => void): Promise<UpcallServer | undefined> {
  const where = metaSocketPath(root, UPCALL_SOCKET);
  if (!where) return undefined;
  fs.rmSync(where, { force: true }); // a socket left by a Lento that died; this process holds the replica's lock
  const conns = new Set<Connection>();
  const handlers: Record<string, Handler> = {
    permit: async (h) => ({ granted: await permit(check(PermitRequest, h, "permit upcall").fid) }),
  };
  const server = net.createServer((sock) => {
    const conn = new Connection(sock, sock, { handlers, idleTimeoutMs: 24 * 3600_000 });
    conn.start({ software: SOFTWARE, role: "lento" }).then(
      () => conns.add(conn),
      () => sock.destroy(),
    );
    void conn.closed.then(() => {
      conns.delete(conn);
      sock.destroy();
    });
  });
  server.on("error", onError);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(where, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    release: async (fids) => {
      await Promise.allSettled([...conns].map(async (c) => check(ReleaseReply, await c.call({ op: "release", fids }), "release reply")));
    },
    close: async () => {
      for (const c of conns) c.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(where, { force: true });
    },
  };
}

/** Presto's end: a permit upcall to the replica's Lento, if one is attached. */
export interface UpcallClient {
  /** True when Lento holds (now) the permit for `fid`; false when it works without permits. */
  permit(fid: string): Promise<boolean>;
  close(): void;
}

/**
 * Presto's side of the channel: connects to Lento on first use and again after it went away; while no
 * Lento listens, every permit upcall answers false at once. `release` is what Presto does when
 * Lento asks it to give an object back.
 */
export function upcallClient(root: string, release: (fids: string[]) => Promise<void>): UpcallClient {
  const where = metaSocketPath(root, UPCALL_SOCKET);
  let conn: Promise<Connection | undefined> | undefined;
  const handlers: Record<string, Handler> = {
    release: async (h) => {
      await release(check(ReleaseRequest, h, "release request").fids);
      return null;
    },
  };
  const connect = (): Promise<Connection | undefined> =>
    new Promise((resolve) => {
      if (!where || !fs.existsSync(where)) return resolve(undefined);
      const sock = net.connect(where);
      sock.once("error", () => resolve(undefined));
      sock.once("connect", () => {
        const c = new Connection(sock, sock, { handlers, idleTimeoutMs: 24 * 3600_000 });
        c.start({ software: SOFTWARE, role: "presto" }).then(
          () => resolve(c),
          () => resolve(undefined),
        );
        void c.closed.then(() => {
          sock.destroy();
          conn = undefined;
        });
      });
    });
  return {
    permit: async (fid) => {
      const c = await (conn ??= connect());
      if (!c) {
        conn = undefined; // no Lento now; look again next time
        return false;
      }
      try {
        return check(PermitReply, await c.call({ op: "permit", fid }), "permit reply").granted;
      } catch {
        return false; // Lento went away: a disconnected replica writes without permits
      }
    },
    close: () => {
      void conn?.then((c) => c?.close());
    },
  };
}

/**
 * The permit side of a mount's upcalls: asks the replica's Lento for permits, and releases objects
 * through the filter when Lento gives them back. `lazy` (a lazy replica's data upcalls) is kept.
 */
export function withPermits(root: string, lazy: UpcallProvider | undefined): UpcallProvider {
  let presto: Presto | undefined;
  const client = upcallClient(root, async (fids) => presto?.givePermitsBack(fids));
  return {
    ...(lazy?.upcall ? { upcall: lazy.upcall } : {}),
    permit: (fid) => client.permit(fid),
    attached: (p) => void (presto = p),
    close: async () => {
      client.close();
      await lazy?.close();
    },
  };
}
