// In-process publish/subscribe of job events, for live views (/events SSE, metrics). Fire and
// forget: a slow or failing subscriber never blocks or breaks the scheduler or the store.

export type JobEvent =
  | {
      type: "status";
      job: string;
      from: string | null;
      to: string;
      queue: string;
      attempt: number | null;
      detail: string | null;
      at: number;
    }
  | {
      type: "progress";
      job: string;
      progress: number;
      /** Steps the script announced (ctx.progress.total). */
      total: number;
      steps: { duration: number; info: string }[];
      at: number;
    };

export type Listener = (event: JobEvent) => void;

export class EventBus {
  private readonly listeners = new Set<Listener>();

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publish(event: JobEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // a broken subscriber must not affect the publisher
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}
