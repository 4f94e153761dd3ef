// The channel's framing on the daemon's side: JSON lines, fed chunk by chunk by whichever transport
// carries them (a spawned child's fd 3 pipe, a forked Python job's socket). A malformed or
// oversized line is reported, never fatal.
import type { ChildMessage } from "../sdk/protocol.ts";

/**
 * The longest channel line the daemon keeps (a result, a child's params). A longer one is dropped as
 * it arrives: buffering it would let a job grow the daemon's memory without bound.
 */
export const MAX_CHANNEL_LINE = 64 * 1024 * 1024;

/** `T`: what a line holds once parsed (the jobs' messages; the fork server's reports use it too). */
export class ChannelLines<T = ChildMessage> {
  private readonly decoder = new TextDecoder();
  // The current line's bytes: only each new chunk is searched for a newline (never the whole line
  // again), so a long line costs linear time.
  private pieces: Uint8Array[] = [];
  private length = 0;
  private dropping = false;

  constructor(
    private readonly onMessage: (message: T) => void,
    private readonly onBadLine: (line: string) => void,
  ) {}

  /** Takes the next bytes of the stream; every line they complete is handled now. */
  push(chunk: Uint8Array): void {
    let start = 0;
    for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, start)) {
      this.take(chunk.subarray(start, newline));
      this.endLine();
      start = newline + 1;
    }
    this.take(chunk.subarray(start));
  }

  /** The stream ended: a last line without its newline still counts. */
  end(): void {
    this.endLine();
  }

  private take(bytes: Uint8Array): void {
    if (this.dropping || bytes.length === 0) return;
    this.length += bytes.length;
    if (this.length > MAX_CHANNEL_LINE) {
      this.dropping = true;
      this.pieces = [];
    } else this.pieces.push(bytes.slice());
  }

  private endLine(): void {
    if (this.dropping) this.onBadLine(`(a line longer than ${MAX_CHANNEL_LINE} bytes, dropped)`);
    else if (this.length > 0) this.handle(this.decoder.decode(Buffer.concat(this.pieces)));
    this.pieces = [];
    this.length = 0;
    this.dropping = false;
  }

  private handle(line: string): void {
    if (line.trim() === "") return;
    try {
      this.onMessage(JSON.parse(line) as T);
    } catch {
      // not JSON, or a message its handler could not take (a script may write its own lines)
      this.onBadLine(line);
    }
  }
}
