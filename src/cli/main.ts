#!/usr/bin/env bun
// pixyz-scheduler: the daemon (`serve`) and its command-line tools, in one executable.
// Each command is imported lazily, so a small command never pays for the daemon's imports.
import { VERSION } from "../version.ts";

const USAGE = `pixyz-scheduler ${VERSION}

Usage: pixyz-scheduler <command> [options]

Commands:
  serve           start the daemon (REST API, scheduler, job store)
  hash-password   print the SHA-256 of a token, for GOD_PASSWORD_SHA256
  version         print the version

Run 'pixyz-scheduler <command> --help' for a command's options.`;

const commands: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  serve: () => import("./serve.ts"),
  "hash-password": () => import("./hash-password.ts"),
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
    console.error(
      `pixyz-scheduler: unknown command '${command}'. Run 'pixyz-scheduler --help' for the list.`,
    );
    return 2;
  }
  return (await load()).run(rest);
}

process.exitCode = await main(process.argv.slice(2));
