// Accepting a job: its files arrive in a staging folder (streamed there by the API), an archive is
// extracted and its root file chosen, then the files are made durable, moved into place, the row
// inserted and the scheduler woken. A 200 is only answered after all of that (invariant 1); a
// failure leaves nothing behind.
import { type JobDefinition, jobRowValues } from "../jobs/compile.ts";
import type { Logger } from "../log/logger.ts";
import type { Scheduler } from "../scheduler/scheduler.ts";
import type { ArchiveLimits } from "../storage/archive-extract.ts";
import { assertFreeSpace } from "../storage/disk.ts";
import { StorageError } from "../storage/errors.ts";
import { prepareInput } from "../storage/inputs.ts";
import type { JobFolders, Stage } from "../storage/job-folders.ts";
import type { JobStore } from "../store/job-store.ts";
import type { JobRow } from "../store/schema.ts";

export interface Submission {
  /** The compiled job (jobs/compile.ts). */
  definition: JobDefinition;
  /** For custom jobs: the script's file name in the stage's script folder. */
  scriptFile: string | null;
  /** The uploaded input's file name in the stage's inputs folder. */
  inputFile: string | null;
  /** The node that owns the job (federation: the origin of a job delegated here); default this one. */
  originNode?: string;
  /**
   * Asked right before the job is stored: false (the client went away) refuses it instead, so a
   * client that saw no answer left no job behind and can send it again without a duplicate.
   */
  stillWanted?: () => boolean;
  /**
   * Called with the stored row before the job can start (submit resolves only once its commit is
   * on disk, by when a short job may have ended): whoever follows the job registers it here.
   */
  onStored?: (job: JobRow) => void;
}

export interface UploadLimits {
  /** MAX_UPLOAD_SIZE: all files of one submission together. */
  maxUploadBytes: number;
  /** MIN_FREE_DISK. */
  minFreeDiskBytes: number;
  /** UPLOAD_IDLE_TIMEOUT: an upload body that stalls (or trickles) this long is ended. */
  idleTimeoutMs: number;
  archive: ArchiveLimits;
}

export class JobService {
  constructor(
    private readonly store: Pick<JobStore, "insert" | "synced">,
    private readonly folders: Pick<JobFolders, "root" | "stage" | "remove" | "prepareStages">,
    /** Why a queue would wait (stored on the row), and the wake-up after an insert. */
    private readonly scheduler: Pick<Scheduler, "waitReason" | "notify">,
    private readonly logger: Logger,
    private readonly nodeId: string,
    readonly limits: UploadLimits,
    /** Whether the disk filled up (storage/disk-guard.ts); its last room is kept for job outcomes. */
    private readonly diskFull: () => boolean = () => false,
  ) {}

  /** Refuses (507) a submission of `incoming` bytes that would leave less free disk than the floor. */
  assertRoomFor(incoming: number): void {
    if (this.diskFull())
      throw new StorageError(
        "no-space",
        "The server's data disk filled up; uploads are refused until space is freed above MIN_FREE_DISK",
      );
    assertFreeSpace(this.folders.root, incoming, this.limits.minFreeDiskBytes, "this upload");
  }

  /** A staging folder for one submission's files. */
  openStage(): Stage {
    return this.folders.stage();
  }

  /** Accepts the staged submission; the stage is consumed (moved into place, or removed on failure). */
  async submit(stage: Stage, submission: Submission): Promise<{ job: JobRow; warnings: string[] }> {
    const { uuid } = stage;
    const { definition } = submission;
    const { config } = definition;
    let stored = false;
    try {
      let rootFile: string | null = null;
      const warnings: string[] = [];
      if (submission.inputFile) {
        const params = definition.params as { filename?: unknown } | null;
        const input = await prepareInput(
          stage.inputsDir,
          {
            upload: submission.inputFile,
            rootFile: config.rootFile,
            filenameParam: typeof params?.filename === "string" ? params.filename : null,
          },
          this.limits.archive,
        );
        rootFile = input.rootFile;
        warnings.push(...input.warnings);
      } else if (config.rootFile) {
        warnings.push("config.root_file is ignored: the job has no input file");
      }
      // The upload (and what an archive held) is all that goes in inputs/.
      await stage.commit(submission.inputFile !== null);
      if (submission.stillWanted && !submission.stillWanted()) {
        throw new StorageError(
          "invalid",
          "The client closed its connection before the job was stored: nothing was kept; send it again",
        );
      }
      const job = this.store.insert(
        jobRowValues(definition, {
          uuid,
          scriptFile: submission.scriptFile,
          inputFile: submission.inputFile,
          rootFile,
          waitReason: this.scheduler.waitReason(config.queue),
          originNode: submission.originNode ?? this.nodeId,
          requestedAt: Date.now(),
        }),
      );
      stored = true;
      submission.onStored?.(job);
      this.logger.info("job accepted", {
        job: uuid,
        process: definition.process,
        queue: config.queue,
        ...(rootFile ? { rootFile } : {}),
      });
      // Committed: it may start while its commit is flushed (a power loss before the answer
      // undoes a job nobody was told of).
      this.scheduler.notify();
      await this.store.synced();
      return { job, warnings };
    } catch (error) {
      if (stored) {
        // The flush failed: the row is committed and may run; only its survival of a power loss
        // is in doubt. Its files stay; the log names it for the operator.
        this.logger.error("a job was stored but the disk refused to flush it", {
          job: uuid,
          error: String(error),
        });
      } else {
        stage.discard();
        this.folders.remove(uuid);
      }
      throw error;
    } finally {
      // The next submissions' folders are made now that this one's fsyncs are done, not beside
      // them (and not at all while another submission is under way: JobFolders.prepareStages).
      this.folders.prepareStages();
    }
  }
}
