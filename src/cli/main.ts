#!/usr/bin/env bun
// pixyz-scheduler: the daemon (`serve`) and its command-line tools, in one executable.
// Each command is imported lazily, so a small command never pays for the daemon's imports.
import { WRITE_COMMAND } from "../runner/process-libraries.ts";
import { VERSION } from "../version.ts";
import { PROGRAM } from "./client/program.ts";

const USAGE = `pixyz-scheduler ${VERSION}

Usage: ${PROGRAM} <command> [options]

Daemon:
  serve           start the daemon (REST API, scheduler, job store)
  doctor          check this machine and the settings; say what to fix
  hash-password   print the SHA-256 of a token, for GOD_PASSWORD_SHA256
  run             run a job script (TS or Python) in the foreground, without a daemon
  version         print the version

Client (talks to --url, default http://localhost:8001 or PIXYZ_URL):
  exec            submit a custom script: exec -s SCRIPT [-i INPUT] [-p JSON] [-w] [-r]
  process         run a pre-registered process: process -n NAME [-i INPUT] [-p JSON] [-w] [-r]
  status          a job's state: status -j UUID [-w]
  jobs            list jobs
  outputs         list a job's output files
  download        download one output: download -j UUID -f FILE [-o OUT]
  download-all    download every output as a zip: download-all -j UUID [-o OUT.zip]
  logs            a job's log: logs -j UUID [-f]
  cancel          cancel a job: cancel -j UUID
  retry           run a finished job again as a new job: retry -j UUID [-w]
  processes       list the pre-registered processes
  process-doc     a process's documentation: process-doc NAME
  peers           the peer daemons this one knows (federation)

Run '${PROGRAM} <command> --help' for a command's options; docs/cli.md for exit codes.`;

const commands: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  serve: () => import("./serve.ts"),
  "hash-password": () => import("./hash-password.ts"),
  run: () => import("./run.ts"),
  doctor: () => import("./doctor.ts"),
  exec: () => import("./client/submit.ts").then((m) => ({ run: m.runExec })),
  process: () => import("./client/submit.ts").then((m) => ({ run: m.runProcess })),
  status: () => import("./client/status.ts"),
  jobs: () => import("./client/jobs.ts").then((m) => ({ run: m.runJobs })),
  outputs: () => import("./client/jobs.ts").then((m) => ({ run: m.runOutputs })),
  cancel: () => import("./client/jobs.ts").then((m) => ({ run: m.runCancel })),
  retry: () => import("./client/retry.ts").then((m) => ({ run: m.runRetry })),
  download: () => import("./client/download.ts").then((m) => ({ run: m.runDownload })),
  "download-all": () => import("./client/download.ts").then((m) => ({ run: m.runDownloadAll })),
  logs: () => import("./client/logs.ts"),
  processes: () => import("./client/processes.ts").then((m) => ({ run: m.runProcesses })),
  peers: () => import("./client/peers.ts").then((m) => ({ run: m.runPeers })),
  "process-doc": () => import("./client/processes.ts").then((m) => ({ run: m.runProcessDoc })),
  // Not for users: the daemon runs it at start to copy the 3D processes' libraries out of the
  // binary without reading them into its own memory (runner/process-libraries.ts).
  [WRITE_COMMAND]: () => import("../runner/process-libraries.ts"),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === "version" || command === "--version") {
    console.log(VERSION);
    return 0;
  }
  const load = commands[command];
  if (!load) {
    console.error(`pixyz-scheduler: unknown command '${command}'. Run '${PROGRAM} --help' for the list.`);
    return 2;
  }
  return (await load()).run(rest);
}

process.exitCode = await main(process.argv.slice(2));
