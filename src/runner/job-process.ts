// The job's process as the runner sees it, however it was started: spawned cold (Bun.spawn), a warm
// TS harness taken from the pool, or forked by the Python fork server (fork-server.ts). The runner
// needs the same things of each: its pid (also its process group: every job leads its own), its
// end, its channel's bytes until the channel closes, and its input (JobSpec, then replies).
import { closeSync } from "node:fs";
import type { FileSink, Subprocess } from "bun";

export interface ProcessEnd {
  /** The exit code (Bun's: 128 + the signal's number when a signal killed it). */
  exitCode: number | null;
  /** The signal that killed it (SIGKILL, ...), or null. */
  signal: string | null;
  /** Said in the job's log when its real end could not be seen (the fork server died under it). */
  note?: string;
}

export interface JobProcess {
  /** Its pid, which is its process group's id. */
  pid: number;
  /** Ends when the process has exited (reaped). */
  exited: Promise<ProcessEnd>;
  /** Ends when the channel has reached its end: every chunk was handed to the `onChunk` it started with. */
  channel: Promise<void>;
  /** Ends when the daemon has copied all of its output (a warm child's pipes); null: it writes the log itself. */
  output: Promise<void> | null;
  /** Writes to its input (the JobSpec line, then replies); throws when the input is gone. */
  write(text: string): void;
  /** Closes its input: only after its exit, since the harness reads that end as the daemon's death. */
  end(): void;
}

/** A process Bun spawned with its input on stdin and its channel on fd 3 (both pipes). */
export function subprocessJob(
  proc: Subprocess<"pipe">,
  onChunk: (chunk: Uint8Array) => void,
  output: Promise<void> | null = null,
): JobProcess {
  const channelFd = proc.stdio[3] as number;
  const channel = (async () => {
    for await (const chunk of Bun.file(channelFd).stream()) onChunk(chunk);
  })().finally(() => {
    // Bun hands the pipe over as a bare fd and never closes it: one fd per attempt would leak.
    // Closed only once the read has ended, so a later open can never reuse the number under it.
    try {
      closeSync(channelFd);
    } catch {
      // already closed
    }
  });
  const stdin = proc.stdin as FileSink;
  return {
    pid: proc.pid,
    exited: proc.exited.then((exitCode) => ({
      exitCode,
      signal: proc.signalCode ? String(proc.signalCode) : null,
    })),
    channel,
    output,
    write(text) {
      stdin.write(text);
      stdin.flush();
    },
    end() {
      try {
        stdin.end();
      } catch {
        // the pipe is already closed: nothing to end
      }
    },
  };
}
