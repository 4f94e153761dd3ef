// The child side of the request/reply channel: requests go out on fd 3 with a number, replies
// come back as lines on stdin (after the JobSpec line) and settle the matching promise.
//
// Lines go out through Bun.write, not node:fs's writeSync: the first call into node:fs loads its
// implementation, about 2.8 ms of CPU in every job child (a no-op job's whole run is ~7 ms). Not a
// FileSink either: it makes fd 3 non-blocking for everything else in the process that writes to it.
import { CHANNEL_FD, type ChildMessage, type JobSpec, type Reply } from "./protocol.ts";

type Request = Extract<ChildMessage, { req: number }>;
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export class Channel {
  /** @param muted says nothing (a rehearsal's channel, harness.ts): every line sent is dropped. */
  constructor(private readonly muted = false) {}

  private nextReq = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly out = Bun.file(CHANNEL_FD);
  /** The write still in progress (a line bigger than the pipe's free space), or null. */
  private writing: Promise<unknown> | null = null;

  send(message: ChildMessage): void {
    if (this.muted) return;
    const line = `${JSON.stringify(message)}\n`;
    // Lines stay in order: behind a write in progress, a line waits its turn.
    if (this.writing) {
      this.track(this.writing.then(() => Bun.write(this.out, line)));
      return;
    }
    // Bun.write writes at once as far as the pipe takes it: a line that fits is in the pipe when
    // this returns, as with a synchronous write, so a process that exits next still delivers it.
    const written = Bun.write(this.out, line);
    const status = Bun.peek.status(written);
    if (status === "rejected") {
      // Thrown to the caller, as a synchronous write's error was; the promise itself is handled.
      written.catch(() => {});
      throw Bun.peek(written);
    }
    if (status === "pending") this.track(written);
  }

  /** Holds later lines behind `write` until it ends. A failed write means the daemon is gone. */
  private track(write: Promise<unknown>): void {
    const settled = () => {
      if (this.writing === tail) this.writing = null;
    };
    const tail: Promise<void> = write.then(settled, settled);
    this.writing = tail;
  }

  /** Resolves once every line sent is in the pipe; the harness awaits it before it exits. */
  async close(): Promise<void> {
    await this.writing;
  }

  request(message: DistributiveOmit<Request, "req">): Promise<unknown> {
    const req = this.nextReq++;
    return new Promise((resolve, reject) => {
      this.pending.set(req, { resolve, reject });
      this.send({ ...message, req } as Request);
    });
  }

  private onReply(reply: Reply): void {
    const waiter = this.pending.get(reply.req);
    if (!waiter) return;
    this.pending.delete(reply.req);
    if (reply.ok) waiter.resolve(reply.value);
    else waiter.reject(new Error(reply.error));
  }

  /** JobSpec lines that came before anyone asked for them, and who waits for the next one. */
  private readonly specs: JobSpec[] = [];
  private specWaiter: { resolve: (spec: JobSpec) => void; reject: (error: Error) => void } | null = null;
  private stdinEnded = false;

  /** The next JobSpec line from the daemon: the first one, then one per job of a reused harness. */
  nextSpec(): Promise<JobSpec> {
    const queued = this.specs.shift();
    if (queued) return Promise.resolve(queued);
    if (this.stdinEnded) return Promise.reject(new Error("no job spec on stdin"));
    return new Promise((resolve, reject) => {
      this.specWaiter = { resolve, reject };
    });
  }

  /**
   * Reads stdin until it ends: JobSpec lines go to nextSpec(), reply lines settle requests.
   * The daemon holds stdin open while the harness has or may get a job, so its end after a
   * JobSpec means the daemon died: `onOrphaned` runs then (the harness kills its own process
   * group, so an interrupted attempt never finishes beside the one a restarted daemon runs again).
   */
  listen(onOrphaned: () => void): void {
    let specsSeen = 0;
    const decoder = new TextDecoder();
    let buffer = "";
    const onLine = (line: string) => {
      if (line.trim() === "") return;
      const message = JSON.parse(line) as JobSpec | Reply;
      if ("t" in message && message.t === "reply") {
        this.onReply(message);
        return;
      }
      specsSeen++;
      const waiter = this.specWaiter;
      this.specWaiter = null;
      if (waiter) waiter.resolve(message as JobSpec);
      else this.specs.push(message as JobSpec);
    };
    const ended = () => {
      this.stdinEnded = true;
      this.specWaiter?.reject(new Error("no job spec on stdin"));
      this.specWaiter = null;
      if (specsSeen > 0) onOrphaned();
      for (const waiter of this.pending.values()) waiter.reject(new Error("the daemon closed the channel"));
    };
    (async () => {
      for await (const chunk of Bun.stdin.stream()) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
          onLine(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
      }
      onLine(buffer);
    })().then(ended, (error: unknown) => {
      // Not read as the daemon's death: the harness fails the way a broken spec line fails it.
      this.stdinEnded = true;
      this.specWaiter?.reject(error instanceof Error ? error : new Error(String(error)));
      this.specWaiter = null;
    });
  }
}
