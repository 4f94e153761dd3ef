// Copies a warm child's stdout or stderr pipe to the log of the job it runs now. A harness that
// runs several jobs (JOBS_PER_CHILD > 1) ends each job's output with a mark only that job's spec
// knew (a random token): the bytes before it are the job's and go to its log, the mark itself goes
// nowhere, and the pump tells the runner it has seen it, so the next job's log never gets a byte
// of this one's and this one's attempt never ends before its last byte is in its log.
import { writeSync } from "node:fs";

export interface OutputSink {
  /** The job log's fd while a job runs; null between jobs (bytes then are dropped). */
  fd: number | null;
  /** The end mark of the job now running when the harness stays for another; null otherwise. */
  mark: Uint8Array | null;
  /** Called once when `mark` went by (set together with it). */
  onMark: (() => void) | null;
}

export function newSink(): OutputSink {
  return { fd: null, mark: null, onMark: null };
}

/**
 * How many bytes at the end of `data` are the start of `mark` (a mark cut between two chunks):
 * those wait for the next chunk. Marks start with a control byte no log line holds, so ordinary
 * output is never held back.
 */
function partialMarkAtEnd(data: Uint8Array, mark: Uint8Array): number {
  const from = Math.max(0, data.length - mark.length + 1);
  for (let start = data.indexOf(mark[0]!, from); start >= 0; start = data.indexOf(mark[0]!, start + 1)) {
    let matches = true;
    for (let i = start; i < data.length && matches; i++) matches = data[i] === mark[i - start];
    if (matches) return data.length - start;
  }
  return 0;
}

function indexOfMark(data: Uint8Array, mark: Uint8Array): number {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).indexOf(mark);
}

/**
 * Copies `stream` to the current sink, chunk by chunk, until it closes. A chunk the log cannot take
 * (a full disk) is dropped and the pipe still drained: stopping would block the job on a full pipe,
 * and a rejection here has no handler until the job ends.
 */
export async function pump(stream: ReadableStream<Uint8Array>, sink: OutputSink): Promise<void> {
  const write = (bytes: Uint8Array) => {
    if (sink.fd === null || bytes.length === 0) return;
    try {
      writeSync(sink.fd, bytes);
    } catch {
      // lost like the notes the runner cannot write; the job goes on
    }
  };
  let held: Uint8Array | null = null;
  for await (const chunk of stream) {
    let data: Uint8Array = held ? Buffer.concat([held, chunk]) : chunk;
    held = null;
    while (sink.mark) {
      const at = indexOfMark(data, sink.mark);
      if (at < 0) break;
      write(data.subarray(0, at));
      data = data.subarray(at + sink.mark.length);
      const seen = sink.onMark;
      // The job's output is over: anything after the mark (nothing, from a harness) is no job's.
      sink.fd = null;
      sink.mark = null;
      sink.onMark = null;
      seen?.();
    }
    const keep = sink.mark ? partialMarkAtEnd(data, sink.mark) : 0;
    write(data.subarray(0, data.length - keep));
    if (keep > 0) held = data.slice(data.length - keep);
  }
  if (held) write(held);
}
