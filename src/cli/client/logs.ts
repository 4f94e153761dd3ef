// `logs -j UUID [-f] [--offset N]`: the job's log on stdout, as written (stdout and stderr of
// its attempts). -f follows it live (SSE) until the job ends, resuming from the last byte after a
// dropped connection, and exits with the job's status code.
import { ConnectionError } from "./errors.ts";
import { EXIT, exitCodeForStatus } from "./exit-codes.ts";
import type { ApiClient } from "./http.ts";
import { type CommandSpec, numberOption, required, runCommand } from "./options.ts";
import { PROGRAM } from "./program.ts";
import { readSse } from "./sse.ts";

const LOGS: CommandSpec = {
  name: "logs",
  usage: `Usage: ${PROGRAM} logs -j UUID [-f] [--offset N]

Prints the job's log (its stdout and stderr, all attempts).

Options:
  -j, --job UUID    the job
  -f, --follow      keep printing as the job writes, until it ends (exit code: its status's)
      --offset N    start at byte N of the log`,
  options: {
    job: { type: "string", short: "j" },
    follow: { type: "boolean", short: "f" },
    offset: { type: "string" },
  },
};

const RECONNECT_FOR_MS = 60_000;

/** Follows the log from `offset`; returns the job's final status. */
async function follow(client: ApiClient, uuid: string, offset: number, write: (text: string) => void) {
  let position = offset;
  let lostSince: number | null = null;
  for (;;) {
    try {
      const res = await client.request(`/jobs/${uuid}/logs?follow=true&offset=${position}`, {
        headers: { accept: "text/event-stream" },
      });
      try {
        for await (const event of readSse(res.body!)) {
          lostSince = null;
          if (event.event === "log") {
            const data = JSON.parse(event.data) as { next: number; text: string };
            write(data.text);
            position = data.next;
          } else if (event.event === "end") {
            return (JSON.parse(event.data) as { status: string }).status;
          }
        }
      } catch (error) {
        throw new ConnectionError(client.baseUrl, error);
      }
    } catch (error) {
      if (!(error instanceof ConnectionError)) throw error;
      lostSince ??= Date.now();
      if (Date.now() - lostSince > RECONNECT_FOR_MS) throw error;
    }
    await Bun.sleep(1000);
  }
}

export function run(argv: string[]): Promise<number> {
  return runCommand(LOGS, argv, async ({ values, client, out }) => {
    const uuid = required(values, "job", "-j/--job");
    const offset = Math.floor(numberOption(values, "offset", "--offset", 0));
    if (values.follow) {
      let text = "";
      const status = await follow(client, uuid, offset, (chunk) => {
        if (out.json) text += chunk;
        else process.stdout.write(chunk);
      });
      out.document({ job: uuid, status, text });
      return exitCodeForStatus(status);
    }
    const res = await client.request(`/jobs/${uuid}/logs?offset=${offset}`);
    const next = Number(res.headers.get("x-log-offset") ?? "0");
    if (out.json) {
      out.document({
        job: uuid,
        offset,
        next,
        status: res.headers.get("x-job-status"),
        text: await res.text(),
      });
      return EXIT.OK;
    }
    for await (const chunk of res.body!) process.stdout.write(chunk);
    return EXIT.OK;
  });
}
