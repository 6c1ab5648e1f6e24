/**
 * A single-consumer async queue: producers push items (or end/fail it), one consumer iterates with
 * `for await`. An optional callback learns how many bytes each consumed item releases, which the
 * connection uses for backpressure.
 */

/** Async-iterable queue of `T`. */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: Array<{ item: T; size: number }> = [];
  private done = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly onConsumed: (size: number) => void = () => undefined) {}

  /** A channel that fails at once with `err`. */
  static failed<T>(err: Error): Channel<T> {
    const c = new Channel<T>();
    c.fail(err);
    return c;
  }

  /** Queues an item; `size` is reported to the consumed-callback when the consumer takes it. */
  push(item: T, size = 0): void {
    if (this.done) return;
    this.items.push({ item, size });
    this.signal();
  }

  /** Marks the end: the consumer finishes after the queued items. */
  end(): void {
    this.done = true;
    this.signal();
  }

  /** Fails the consumer with `err` (queued items are dropped). */
  fail(err: Error): void {
    if (this.done && this.items.length === 0) return;
    this.error = err;
    this.done = true;
    for (const { size } of this.items.splice(0)) this.onConsumed(size);
    this.signal();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      const next = this.items.shift();
      if (next) {
        this.onConsumed(next.size);
        yield next.item;
        continue;
      }
      if (this.error) throw this.error;
      if (this.done) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}
