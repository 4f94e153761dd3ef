// Accepting a job: stage its files, make them durable, insert its row, wake the scheduler.
// A 200 is only answered after all of that (invariant 1); a failure leaves nothing behind.
import type { WorkerConfig } from "../jobs/worker-config.ts";
import type { Logger } from "../log/logger.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { JobFolders } from "../storage/job-folders.ts";
import { saveUpload } from "../storage/uploads.ts";
import type { JobStore } from "../store/job-store.ts";
import type { JobRow } from "../store/schema.ts";

export interface Submission {
  name: string | null;
  process: string;
  /** The uploaded script, for custom jobs. */
  script: File | null;
  file: File | null;
  params: unknown;
  config: WorkerConfig;
}

export class JobService {
  constructor(
    private readonly store: JobStore,
    private readonly folders: JobFolders,
    private readonly scheduler: Scheduler,
    private readonly logger: Logger,
    private readonly nodeId: string,
  ) {}

  async submit(submission: Submission): Promise<JobRow> {
    const uuid = crypto.randomUUID();
    const stage = this.folders.stage(uuid);
    try {
      const scriptFile = submission.script
        ? await saveUpload(submission.script, `${stage.dir}/script`, "script")
        : null;
      const inputFile = submission.file
        ? await saveUpload(submission.file, `${stage.dir}/inputs`, "file")
        : null;
      stage.commit();
      const { config } = submission;
      const job = this.store.insert({
        uuid,
        name: submission.name,
        process: submission.process,
        scriptFile,
        inputFile,
        entrypoint: config.entrypoint,
        queue: config.queue,
        priority: config.priority,
        timeLimitS: config.timeLimitS,
        computeOnly: config.computeOnly,
        rootFile: config.rootFile,
        paramsJson: JSON.stringify(submission.params),
        configJson: JSON.stringify(config),
        waitReason: this.scheduler.waitReason(config.queue),
        originNode: this.nodeId,
        requestedAt: Date.now(),
      });
      this.logger.info("job accepted", { job: uuid, process: submission.process, queue: config.queue });
      this.scheduler.notify();
      return job;
    } catch (error) {
      stage.discard();
      this.folders.remove(uuid);
      throw error;
    }
  }
}
