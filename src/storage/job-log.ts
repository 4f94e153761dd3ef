// Reading a job's log (job.log: stdout and stderr of every attempt, with the scheduler's notes)
// from a byte offset, and following it while it grows. Text is cut on whole UTF-8 characters.
import { open, stat } from "node:fs/promises";

/** How often a followed log is checked for new bytes. */
const FOLLOW_POLL_MS = 200;
/** The most bytes one chunk of a followed log carries. */
const CHUNK_BYTES = 256 * 1024;

/** The log's size in bytes; 0 before it exists. */
export const logSize = (path: string): Promise<number> =>
  stat(path).then(
    (s) => s.size,
    () => 0,
  );

/** Bytes of the file from `start`, at most `max`; empty when the file does not exist yet. */
async function readRange(path: string, start: number, max: number): Promise<Uint8Array<ArrayBuffer>> {
  const handle = await open(path, "r").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return null;
    throw error;
  });
  if (!handle) return new Uint8Array(0);
  try {
    const buffer = new Uint8Array(max);
    const { bytesRead } = await handle.read(buffer, 0, max, start);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * How many leading bytes of `bytes` end on a whole UTF-8 character, so that a follower never
 * splits one across two chunks (the rest comes with the next read).
 */
export function wholeUtf8Length(bytes: Uint8Array): number {
  const n = bytes.length;
  // Walk back over at most 3 continuation bytes to the lead byte of the last character.
  for (let back = 1; back <= Math.min(4, n); back++) {
    const byte = bytes[n - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n;
}

export interface LogChunk {
  offset: number;
  /** The offset after this chunk: where a reconnect resumes. */
  next: number;
  text: string;
}

/**
 * Follows the log from `offset`: yields what it holds, then what is added, chunk by chunk, until
 * `ended()` gives the job's final status; the log is then read to its end and the generator
 * returns that status and the end offset (null: `wanted()` turned false first, the reader left).
 * The caller pulls one chunk at a time, so a slow reader never makes the daemon hold the whole log.
 */
export async function* followLog(
  path: string,
  offset: number,
  ended: () => string | null,
  wanted: () => boolean,
): AsyncGenerator<LogChunk, { status: string; offset: number } | null> {
  const decoder = new TextDecoder();
  let position = offset;
  for (;;) {
    // Read the flag before draining: bytes written before the job ended are then all read.
    const status = ended();
    const final = status !== null;
    for (;;) {
      const bytes = await readRange(path, position, CHUNK_BYTES);
      const whole = final ? bytes.length : wholeUtf8Length(bytes);
      if (whole === 0) break;
      const next = position + whole;
      yield { offset: position, next, text: decoder.decode(bytes.subarray(0, whole), { stream: !final }) };
      position = next;
    }
    if (status !== null) return { status, offset: position };
    if (!wanted()) return null;
    await Bun.sleep(FOLLOW_POLL_MS);
    if (!wanted()) return null;
  }
}
