// `processes` (the pre-registered processes) and `process-doc NAME` (one's documentation).
import { usageError } from "./errors.ts";
import { EXIT } from "./exit-codes.ts";
import { type CommandSpec, runCommand, string } from "./options.ts";
import { PROGRAM } from "./program.ts";

const PROCESSES: CommandSpec = {
  name: "processes",
  usage: `Usage: ${PROGRAM} processes

Lists the pre-registered processes ('${PROGRAM} process -n NAME' runs one).`,
  options: {},
};

export function runProcesses(argv: string[]): Promise<number> {
  return runCommand(PROCESSES, argv, async ({ client, out }) => {
    const answer = await client.json<{ processes: string[] }>("/processes");
    out.document(answer);
    for (const name of answer.processes) out.data(name);
    return EXIT.OK;
  });
}

const PROCESS_DOC: CommandSpec = {
  name: "process-doc",
  usage: `Usage: ${PROGRAM} process-doc NAME

Prints the documentation of a pre-registered process (the doc comment of its main).

Options:
  -n, --name NAME   the process (or as the first argument)`,
  options: { name: { type: "string", short: "n" } },
  positionals: 1,
};

export function runProcessDoc(argv: string[]): Promise<number> {
  return runCommand(PROCESS_DOC, argv, async ({ values, positionals, client, out }) => {
    const name = string(values, "name") ?? positionals[0];
    if (!name) throw usageError("the process NAME is required");
    const answer = await client.json<{ doc: string }>(`/processes/${encodeURIComponent(name)}`);
    out.document(answer);
    out.data(answer.doc);
    return EXIT.OK;
  });
}
