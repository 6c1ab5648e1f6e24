/**
 * The multi-RPC (Coda's, which the paper's BreakCallback follows): a request goes out to every
 * peer first, and only then are the answers gathered, under one deadline for all — so a dead peer
 * costs one timeout, not one per peer, and never delays the answers of the others.
 */

/** How one call of a multi-RPC ended. */
export type CallOutcome = "answered" | "failed" | "lapsed";

/**
 * Starts every call, then waits for all of them or `timeoutMs`, whichever comes first. A call that
 * has not settled by then is `lapsed` (it keeps running; its late answer is the caller's business).
 */
export async function multiRpc<K>(calls: Map<K, () => Promise<unknown>>, timeoutMs: number): Promise<Map<K, CallOutcome>> {
  const outcome = new Map<K, CallOutcome>();
  const running: Promise<void>[] = [];
  for (const [key, call] of calls) {
    outcome.set(key, "lapsed");
    let started: Promise<unknown>;
    try {
      started = call();
    } catch (err) {
      started = Promise.reject(err);
    }
    running.push(
      started.then(
        () => void (outcome.get(key) === "lapsed" && !timedOut && outcome.set(key, "answered")),
        () => void (outcome.get(key) === "lapsed" && !timedOut && outcome.set(key, "failed")),
      ),
    );
  }
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(running),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  timedOut = true;
  return outcome;
}
