// `jobs` (a table), `outputs -j UUID` and `cancel -j UUID`.
import { EXIT } from "./exit-codes.ts";
import { table } from "./format.ts";
import { type CommandSpec, numberOption, required, runCommand, string } from "./options.ts";
import { PROGRAM } from "./program.ts";

interface JobState {
  uuid: string;
  name: string | null;
  status: string;
  progress: number | null;
  error: string | null;
}

const JOBS: CommandSpec = {
  name: "jobs",
  usage: `Usage: ${PROGRAM} jobs [--status STATUS] [--limit N]

Lists jobs, newest first: uuid, status, progress, name, error.

Options:
      --status S   only jobs in this status (PENDING, STARTED, SUCCESS, FAILURE, ...)
      --limit N    at most N jobs (default 100)`,
  options: { status: { type: "string" }, limit: { type: "string" } },
};

export function runJobs(argv: string[]): Promise<number> {
  return runCommand(JOBS, argv, async ({ values, client, out }) => {
    const query = new URLSearchParams({ limit: String(numberOption(values, "limit", "--limit", 100)) });
    const status = string(values, "status");
    if (status) query.set("status", status.toUpperCase());
    const { jobs } = await client.json<{ jobs: JobState[] }>(`/jobs?${query}`);
    out.document({ jobs });
    if (jobs.length === 0) {
      out.note("No jobs.");
      return EXIT.OK;
    }
    out.data(
      table(
        ["UUID", "STATUS", "PROGRESS", "NAME", "ERROR"],
        jobs.map((j) => [
          j.uuid,
          j.status,
          `${j.progress ?? 0}%`,
          j.name ?? "-",
          j.error?.slice(0, 80) ?? "",
        ]),
      ),
    );
    return EXIT.OK;
  });
}

const OUTPUTS: CommandSpec = {
  name: "outputs",
  usage: `Usage: ${PROGRAM} outputs -j UUID

Lists the files the job wrote (paths for 'download -f').

Options:
  -j, --job UUID   the job`,
  options: { job: { type: "string", short: "j" } },
};

export function runOutputs(argv: string[]): Promise<number> {
  return runCommand(OUTPUTS, argv, async ({ values, client, out }) => {
    const uuid = required(values, "job", "-j/--job");
    const answer = await client.json<{ outputs: string[] }>(`/jobs/${uuid}/outputs`);
    out.document(answer);
    for (const path of answer.outputs) out.data(path);
    if (answer.outputs.length === 0) out.note("No outputs.");
    return EXIT.OK;
  });
}

const CANCEL: CommandSpec = {
  name: "cancel",
  usage: `Usage: ${PROGRAM} cancel -j UUID

Cancels the job: it becomes REVOKED and, if it runs, its whole process tree is killed.
A job that already finished answers 409 (exit 1).

Options:
  -j, --job UUID   the job`,
  options: { job: { type: "string", short: "j" } },
};

export function runCancel(argv: string[]): Promise<number> {
  return runCommand(CANCEL, argv, async ({ values, client, out }) => {
    const uuid = required(values, "job", "-j/--job");
    const job = await client.json<JobState>(`/jobs/${uuid}`, { method: "DELETE" });
    out.document(job);
    out.data(`Job ${job.uuid} ${job.status}`);
    return EXIT.OK;
  });
}
