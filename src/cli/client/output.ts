// Where the client writes: data on stdout (uuids, tables, results, log text, --json documents),
// narration and progress on stderr, nothing but the JSON document with --json.
import { type Display, JobProgress, Transfer } from "./progress.ts";

export class Output {
  private readonly displays = new Set<Display>();

  constructor(
    readonly json: boolean,
    private readonly tty: boolean = Boolean(process.stderr.isTTY),
  ) {}

  private get mode(): "tty" | "plain" | "silent" {
    return this.json ? "silent" : this.tty ? "tty" : "plain";
  }

  /** A line of data on stdout (ignored with --json: use `document`). */
  data(text: string): void {
    if (!this.json) process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  /** Narration on stderr (none with --json). */
  note(text: string): void {
    if (!this.json) process.stderr.write(`${text}\n`);
  }

  /** The JSON document of a --json run. */
  document(value: unknown): void {
    if (this.json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  jobProgress(uuid: string): JobProgress {
    const display = new JobProgress(uuid, this.mode);
    this.displays.add(display);
    return display;
  }

  transfer(label: string, total: number | null): Transfer {
    const display = new Transfer(label, total, this.mode);
    this.displays.add(display);
    return display;
  }

  /** Ends every live bar (before an error line, so it starts on a clean line). */
  stopProgress(): void {
    for (const display of this.displays) display.stop();
    this.displays.clear();
  }
}
