// What a person sees while a job runs or bytes move: on a terminal, a live bar (cli-progress) on
// stderr with the job's status and current step, or the bytes so far; otherwise plain lines, one
// per change of status or step (logs and CI keep them readable).
import { Format, SingleBar } from "cli-progress";
import { formatBytes } from "../../text/bytes.ts";

export interface JobView {
  status: string;
  progress: number | null;
  step: string | null;
}

export interface Display {
  stop(): void;
}

export class JobProgress implements Display {
  private bar: SingleBar | null = null;
  private last = "";

  constructor(
    private readonly uuid: string,
    private readonly mode: "tty" | "plain" | "silent",
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {}

  update(view: JobView): void {
    const progress = Math.max(0, Math.min(100, view.progress ?? 0));
    const step = view.step ?? "";
    if (this.mode === "tty") {
      const payload = { job: this.uuid.slice(0, 8), status: view.status, step };
      if (!this.bar) {
        this.bar = new SingleBar({
          format: "Job {job} {bar} {percentage}% {status} {step}",
          barsize: 24,
          hideCursor: true,
          stream: process.stderr,
          linewrap: false,
        });
        this.bar.start(100, progress, payload);
      } else {
        this.bar.update(progress, payload);
      }
      return;
    }
    if (this.mode === "plain") {
      const line = `Job ${this.uuid} ${view.status} ${progress}%${step ? ` ${step}` : ""}`;
      // One line per change of status or step, not per percent.
      const key = `${view.status}\u0000${step}`;
      if (key !== this.last) this.write(line);
      this.last = key;
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}

export class Transfer implements Display {
  private bar: SingleBar | null = null;
  private bytes = 0;
  private readonly started = performance.now();

  constructor(
    private readonly label: string,
    total: number | null,
    private readonly mode: "tty" | "plain" | "silent",
    private readonly write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {
    if (mode === "tty" && total !== null && total > 0) {
      this.bar = new SingleBar({
        format: `${label} {bar} {percentage}% {value} / {total}`,
        barsize: 24,
        hideCursor: true,
        stream: process.stderr,
        linewrap: false,
        formatValue: (value, options, type) =>
          type === "value" || type === "total"
            ? formatBytes(value)
            : Format.ValueFormat(value, options, type),
      });
      this.bar.start(total, 0);
    }
  }

  add(bytes: number): void {
    this.bytes += bytes;
    this.bar?.update(this.bytes);
  }

  get transferred(): number {
    return this.bytes;
  }

  /** Ends the bar, and says how much moved. */
  done(): void {
    this.stop();
    if (this.mode === "silent") return;
    const seconds = (performance.now() - this.started) / 1000;
    this.write(`${this.label}: ${formatBytes(this.bytes)} (${this.bytes} bytes) in ${seconds.toFixed(1)} s`);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
