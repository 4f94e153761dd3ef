// The child side of the request/reply channel: requests go out on fd 3 with a number, replies
// come back as lines on stdin (after the JobSpec line) and settle the matching promise.
import { writeSync } from "node:fs";
import { CHANNEL_FD, type ChildMessage, type JobSpec, type Reply } from "./protocol.ts";

type Request = Extract<ChildMessage, { req: number }>;
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export class Channel {
  private nextReq = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  send(message: ChildMessage): void {
    // Synchronous write: the line is in the pipe before the process can exit.
    writeSync(CHANNEL_FD, `${JSON.stringify(message)}\n`);
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

  /**
   * Reads stdin: resolves with the first line (the JobSpec), then keeps delivering replies.
   * The daemon holds stdin open until the job ends, so its end after the JobSpec means the daemon
   * died: `onOrphaned` runs then (the harness kills its own process group, so an interrupted
   * attempt never finishes beside the one a restarted daemon runs again).
   */
  readSpec(onOrphaned: () => void): Promise<JobSpec> {
    return new Promise((resolve, reject) => {
      let spec: JobSpec | null = null;
      const decoder = new TextDecoder();
      let buffer = "";
      const onLine = (line: string) => {
        if (line.trim() === "") return;
        const message = JSON.parse(line);
        if (spec === null) {
          spec = message as JobSpec;
          resolve(spec);
        } else this.onReply(message as Reply);
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
        if (spec === null) reject(new Error("no job spec on stdin"));
        else onOrphaned();
        for (const waiter of this.pending.values()) waiter.reject(new Error("the daemon closed the channel"));
      })().catch(reject);
    });
  }
}
