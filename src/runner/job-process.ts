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

/**
 * Reads a channel pipe to its end, each chunk to `onChunk`. Bun hands the pipe over as a bare fd
 * and never closes it: one fd per process would leak, so it is closed here, only once the read has
 * ended, so that a later open can never reuse the number under it.
 */
export function readChannel(fd: number, onChunk: (chunk: Uint8Array) => void): Promise<void> {
  return (async () => {
    for await (const chunk of Bun.file(fd).stream()) onChunk(chunk);
  })().finally(() => {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  });
}

/** The JobProcess input of a process Bun spawned with a stdin pipe. */
export function stdinInput(stdin: FileSink): Pick<JobProcess, "write" | "end"> {
  return {
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

/** How a process Bun spawned ended, as a ProcessEnd. */
export function processEnd(proc: Subprocess): Promise<ProcessEnd> {
  return proc.exited.then((exitCode) => ({
    exitCode,
    signal: proc.signalCode ? String(proc.signalCode) : null,
  }));
}

/** A process Bun spawned with its input on stdin and its channel on fd 3 (both pipes). */
export function subprocessJob(proc: Subprocess<"pipe">, onChunk: (chunk: Uint8Array) => void): JobProcess {
  return {
    pid: proc.pid,
    exited: processEnd(proc),
    channel: readChannel(proc.stdio[3] as number, onChunk),
    output: null,
    ...stdinInput(proc.stdin as FileSink),
  };
}
