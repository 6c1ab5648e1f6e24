/**
 * A TCP relay on loopback between a client and a server (e.g. a test sshd), counting the bytes it
 * forwards, that a test can cut: every relayed connection is reset on both sides (RST), as a
 * dropped network link or a killed middlebox would do, without touching either endpoint's process.
 *
 * Always call `close()` (in `finally`/`after`).
 */
import net from "node:net";

/** A running relay. */
export interface Relay {
  readonly port: number;
  /** Bytes forwarded so far, client → server (`up`) and server → client (`down`). */
  readonly bytes: { up: number; down: number };
  /** Resolves once `dir` (default `up`) has passed `n` more bytes and every relayed connection has been reset. */
  cutAfter(n: number, dir?: "up" | "down"): Promise<void>;
  /** Resets every relayed connection now. */
  cut(): void;
  /** Stops listening and resets what is left. */
  close(): Promise<void>;
}

/** Starts a relay from a free 127.0.0.1 port to `127.0.0.1:targetPort`. */
export async function startRelay(targetPort: number): Promise<Relay> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const bytes = { up: 0, down: 0 };
  let trigger: { dir: "up" | "down"; at: number; done: () => void } | undefined;

  const cut = (): void => {
    for (const [a, b] of pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    pairs.clear();
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket, dir: "up" | "down"): void => {
      from.on("data", (chunk: Buffer) => {
        bytes[dir] += chunk.length;
        if (!to.write(chunk)) from.pause();
        if (trigger && trigger.dir === dir && bytes[dir] >= trigger.at) {
          const t = trigger;
          trigger = undefined;
          cut();
          t.done();
        }
      });
      to.on("drain", () => from.resume());
      from.on("end", () => to.end());
      from.on("error", () => to.destroy());
      from.on("close", () => {
        to.destroy();
        pairs.delete(pair);
      });
    };
    forward(client, upstream, "up");
    forward(upstream, client, "down");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = server.address() as net.AddressInfo;
  return {
    port: addr.port,
    bytes,
    cutAfter: (n, dir = "up") => new Promise((done) => (trigger = { dir, at: bytes[dir] + n, done })),
    cut,
    close: () =>
      new Promise((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}
