// `retry -j UUID [-w] [-r]`: runs a finished job again as a new job with the same script, inputs,
// params and config (POST /jobs/{uuid}/retry). Prints the new job's uuid; `-w` follows it.
import { EXIT } from "./exit-codes.ts";
import { type CommandSpec, required, runCommand } from "./options.ts";
import { PROGRAM } from "./program.ts";
import { watchAndReport } from "./report.ts";

const RETRY: CommandSpec = {
  name: "retry",
  usage: `Usage: ${PROGRAM} retry -j UUID [-w] [-r]

Runs a finished job (SUCCESS, FAILURE or REVOKED) again, as a new job with the same script,
inputs, params and config. Prints the new job's uuid. A job that has not finished answers 409,
one whose files the cleanup removed 410 (exit 1).

Options:
  -j, --job UUID   the finished job
  -w, --watch      follow the new job live until it ends (exits with its status's code)
  -r, --result     print the new job's result (implies -w)`,
  options: {
    job: { type: "string", short: "j" },
    watch: { type: "boolean", short: "w" },
    result: { type: "boolean", short: "r" },
  },
};

export function runRetry(argv: string[]): Promise<number> {
  return runCommand(RETRY, argv, async ({ values, client, out }) => {
    const uuid = required(values, "job", "-j/--job");
    const answer = await client.json<{ uuid: string; retry_of: string }>(`/jobs/${uuid}/retry`, {
      method: "POST",
    });
    out.data(answer.uuid);
    if (!values.watch && !values.result) {
      out.note(`Job ${answer.uuid} repeats ${uuid}. Follow it: ${PROGRAM} status -j ${answer.uuid} -w`);
      out.document(answer);
      return EXIT.OK;
    }
    return watchAndReport(client, out, answer.uuid, {
      printResult: values.result === true,
      printSummary: false,
    });
  });
}
