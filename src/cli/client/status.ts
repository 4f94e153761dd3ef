// `status -j UUID [-w]`: the job's details (GET /jobs/{uuid}/details), or a live watch until it
// ends. Exits with the status's code either way (0 SUCCESS, 10 FAILURE, 11 REVOKED, 13 PENDING...).
import { exitCodeForStatus } from "./exit-codes.ts";
import { type CommandSpec, required, runCommand } from "./options.ts";
import { PROGRAM } from "./program.ts";
import { summary, watchAndReport } from "./report.ts";
import { fetchDetails } from "./watch.ts";

const STATUS: CommandSpec = {
  name: "status",
  usage: `Usage: ${PROGRAM} status -j UUID [-w]

Prints the job's state, times, steps, error and result. Exits with its status's code:
0 SUCCESS, 10 FAILURE, 11 REVOKED, 12 RETRY, 13 PENDING, 14 STARTED (see docs/cli.md).

Options:
  -j, --job UUID   the job
  -w, --watch      follow it live until it ends`,
  options: { job: { type: "string", short: "j" }, watch: { type: "boolean", short: "w" } },
};

export function run(argv: string[]): Promise<number> {
  return runCommand(STATUS, argv, async ({ values, client, out }) => {
    const uuid = required(values, "job", "-j/--job");
    if (values.watch) return watchAndReport(client, out, uuid, { printResult: false, printSummary: true });
    const details = await fetchDetails(client, uuid);
    out.data(summary(details));
    out.document(details);
    return exitCodeForStatus(details.status);
  });
}
