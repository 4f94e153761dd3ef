// A Server-Sent Events stream fed from callbacks (the event bus, a file tail): messages are queued
// and written one at a time, a comment line goes out when nothing did for a while (so proxies and
// Bun's idle timeout keep the connection), and a client that does not read is dropped once its
// queue is full instead of growing the daemon's memory.
import type { SSEMessage, SSEStreamingApi } from "hono/streaming";

export interface SseOptions {
  /** A `: keepalive` comment after this long without a message. */
  heartbeatMs: number;
  /** Messages waiting to be written beyond this: the client is too slow, the stream ends. */
  maxQueued: number;
}

export const SSE_DEFAULTS: SseOptions = { heartbeatMs: 15_000, maxQueued: 10_000 };

export class SseSender {
  private readonly queue: SSEMessage[] = [];
  private wake: (() => void) | null = null;
  private ending = false;
  private overflowed = false;
  private flushWaiters: (() => void)[] = [];

  private readonly onStopping = () => {
    this.send({
      event: "closing",
      data: JSON.stringify({ reason: "the daemon is stopping; reconnect later" }),
    });
    this.end();
  };

  /** `stopping`: when it aborts (the daemon stops), the stream says so and ends. */
  constructor(
    private readonly stream: SSEStreamingApi,
    private readonly options: SseOptions = SSE_DEFAULTS,
    private readonly stopping?: AbortSignal,
  ) {
    stream.onAbort(() => this.poke());
    if (stopping?.aborted) this.onStopping();
    else stopping?.addEventListener("abort", this.onStopping, { once: true });
  }

  /** Queues a message; false when the stream is over (ended, aborted or overflowed). */
  send(message: SSEMessage): boolean {
    if (this.ending || this.stream.aborted) return false;
    if (this.queue.length >= this.options.maxQueued) {
      this.overflowed = true;
      this.ending = true;
    } else {
      this.queue.push(message);
    }
    this.poke();
    return !this.ending;
  }

  /** Ends the stream once what is queued is written. */
  end(): void {
    this.ending = true;
    this.poke();
  }

  get open(): boolean {
    return !this.ending && !this.stream.aborted;
  }

  /** Resolves once every queued message is written (or the stream is over). */
  flushed(): Promise<void> {
    if (this.queue.length === 0 || !this.open) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  private releaseFlushWaiters(): void {
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Writes until the stream ends or the client goes away. */
  async run(): Promise<void> {
    try {
      await this.writeLoop();
    } finally {
      this.stopping?.removeEventListener("abort", this.onStopping);
    }
  }

  private async writeLoop(): Promise<void> {
    while (!this.stream.aborted) {
      const message = this.queue.shift();
      if (message) {
        await this.stream.writeSSE(message);
        continue;
      }
      this.releaseFlushWaiters();
      if (this.ending) break;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const woke = await new Promise<boolean>((resolve) => {
        this.wake = () => resolve(true);
        timer = setTimeout(() => resolve(false), this.options.heartbeatMs);
      });
      clearTimeout(timer);
      this.wake = null;
      if (!woke && !this.stream.aborted) await this.stream.write(": keepalive\n\n");
    }
    this.releaseFlushWaiters();
    if (this.overflowed && !this.stream.aborted) {
      await this.stream.writeSSE({
        event: "overflow",
        data: JSON.stringify({ error: "The client read too slowly; events were dropped. Reconnect." }),
      });
    }
  }
}
