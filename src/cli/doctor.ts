// `pixyz-scheduler doctor`: checks what the daemon needs on this machine, with the same settings
// `serve` would use (environment, --config file, flags), and says what is wrong and how to fix
// it. Exit 0 when nothing is wrong (warnings allowed), 1 when something is, 2 on bad arguments.

import { accessSync, constants, existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import type { Config } from "../config/config.ts";
import { ConfigError } from "../config/parse.ts";
import { resolveJobUser } from "../runner/job-user.ts";
import { resolvePython } from "../runner/python.ts";
import { detectCapacity } from "../scheduler/capacity.ts";
import { buildSlots, KNOWN_QUEUES, queueService, slotRules } from "../scheduler/slots.ts";
import { diskSpace, floorProblem } from "../storage/disk-guard.ts";
import { formatBytes } from "../text/bytes.ts";
import { VERSION } from "../version.ts";
import { CONFIG_FLAG_OPTIONS, configFromFlags } from "./config-flags.ts";
import { hostSummary } from "./host-summary.ts";

const HELP = `Usage: pixyz-scheduler doctor [--data-dir DIR] [--config FILE] [--slots LIST] [--port N] [--json]

Checks the settings, the data folder (writable, free disk), Python (PYTHON_BIN), the detected
cores, memory and GPUs and the slots made from them, the API token, and the port. Prints each
problem with how to fix it. Exit code: 0 when nothing is wrong (warnings allowed), 1 otherwise.`;

export type Level = "ok" | "warn" | "fail";

export interface Check {
  level: Level;
  name: string;
  message: string;
  fix?: string;
}

function checkDataDir(config: Config): Check[] {
  const dir = config.dataDir;
  const fix = `create it and give the daemon's user write access (e.g. chown pixyz-scheduler ${dir}), or set DATA_DIR / --data-dir`;
  // A folder that does not exist yet is fine when serve can create it: look at its nearest parent.
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  try {
    if (!statSync(existing).isDirectory()) {
      return [{ level: "fail", name: "data dir", message: `${existing} is not a folder`, fix }];
    }
    accessSync(existing, constants.W_OK);
    if (existing === dir) {
      const probe = join(dir, `.doctor-${process.pid}`);
      writeFileSync(probe, "ok");
      rmSync(probe);
    }
  } catch (error) {
    return [
      {
        level: "fail",
        name: "data dir",
        message: `${existing} is not writable: ${(error as Error).message}`,
        fix,
      },
    ];
  }
  const checks: Check[] = [
    {
      level: "ok",
      name: "data dir",
      message: existing === dir ? `${dir} is writable` : `${dir} does not exist yet; serve creates it`,
    },
  ];
  const space = diskSpace(existing, config.minFreeDiskBytes);
  const free = space.freeBytes;
  const floor = space.floorBytes;
  const problem = floorProblem(space);
  if (problem) {
    checks.push({
      level: "fail",
      name: "disk",
      message: problem,
      fix: "free space (or enable the cleanup: CLEANUP_ENABLED=true), put DATA_DIR on a larger disk, or lower MIN_FREE_DISK",
    });
  } else if (free < floor + 10 * 1024 ** 3) {
    checks.push({
      level: "warn",
      name: "disk",
      message: `${formatBytes(free)} free on the data disk; uploads stop below ${formatBytes(floor)} (MIN_FREE_DISK)`,
      fix: "free space, enable the cleanup (CLEANUP_ENABLED=true), or move DATA_DIR to a larger disk",
    });
  } else {
    checks.push({ level: "ok", name: "disk", message: `${formatBytes(free)} free on the data disk` });
  }
  return checks;
}

/** The same probe as the daemon's at start (runner/python.ts): found, runs, Python >= 3.8. */
async function checkPython(config: Config, explicit: boolean): Promise<Check> {
  const interpreter = await resolvePython(config.pythonBin);
  if (interpreter.error) {
    return {
      level: explicit ? "fail" : "warn",
      name: "python",
      message: `${interpreter.error}. Python scripts (.py) cannot run; TypeScript/JavaScript scripts can`,
      fix: "install Python 3 (the Pixyz SDK's own python works best) and set PYTHON_BIN to it",
    };
  }
  return { level: "ok", name: "python", message: `Python ${interpreter.version} at ${interpreter.path}` };
}

async function checkSlots(config: Config): Promise<Check[]> {
  const [capacity, host] = await Promise.all([
    detectCapacity({ nvidiaSmi: config.nvidiaSmi }),
    hostSummary(),
  ]);
  const gpus = capacity.gpus.map((g) => `gpu${g.index} ${g.name} ${g.vramMb} MB`).join(", ") || "no GPU";
  const checks: Check[] = [
    // What an operator quotes in a bug report; the slots below come from the machine line.
    ...(host ? [{ level: "ok" as const, name: "host", message: host }] : []),
    {
      level: "ok",
      name: "machine",
      message: `${capacity.cores} cores, ${capacity.memoryMb} MB memory, ${gpus}`,
    },
  ];
  for (const note of capacity.notes) {
    checks.push({
      level: "warn",
      name: "machine",
      message: note,
      fix: "check the probe (NVIDIA_SMI for GPUs), or set SLOTS to say what this machine runs",
    });
  }
  const slots = buildSlots(capacity, slotRules(config));
  const perQueue = new Map<string, number>();
  for (const slot of slots) perQueue.set(slot.queue, (perQueue.get(slot.queue) ?? 0) + 1);
  const control = perQueue.get("control") ?? 0;
  perQueue.delete("control");
  const list = [...perQueue].map(([q, n]) => `${q}:${n}`).join(",") || "none";
  if (!slots.some((s) => s.kind === "compute")) {
    checks.push({
      level: "fail",
      name: "slots",
      message: "no compute slot: no cpu or gpu job can run here",
      fix: "set SLOTS (e.g. SLOTS=cpu:2) or remove a SLOTS value that sets every count to 0",
    });
    return checks;
  }
  checks.push({
    level: "ok",
    name: "slots",
    message: `${list}${config.slots ? " (from SLOTS)" : " (detected)"}, control:${control} (take no core)`,
  });
  // How each of the original's queues is served: by its own slots, by a stand-in, or not at all.
  const described = KNOWN_QUEUES.map((queue) => ({ queue, ...queueService(slots, queue) }));
  const how = (d: (typeof described)[number]) =>
    d.how === "local" ? d.queue : d.how === "fallback" ? `${d.queue} on ${d.by.join(",")} (${d.note})` : null;
  checks.push({
    level: "ok",
    name: "queues",
    message: `served: ${described
      .map(how)
      .filter((text) => text !== null)
      .join("; ")}`,
  });
  const unserved = described.filter((d) => d.how === "none").map((d) => d.queue);
  if (unserved.length > 0) {
    checks.push({
      level: "warn",
      name: "queues",
      message: `no slot serves ${unserved.join(", ")}: jobs sent there wait (their status says why)`,
      fix: "expected with GPU_FALLBACK=wait on a machine without those GPUs; otherwise set SLOTS (e.g. SLOTS=cpu:2,gpu:1) or GPU_FALLBACK=cpu",
    });
  }
  return checks;
}

function checkToken(config: Config): Check {
  if (config.godPasswordSha256) {
    return {
      level: "ok",
      name: "token",
      message: "GOD_PASSWORD_SHA256 is set (clients send the token as x-api-key)",
    };
  }
  const file = join(config.dataDir, "api-token");
  if (!existsSync(file)) {
    return {
      level: "ok",
      name: "token",
      message: `no GOD_PASSWORD_SHA256: the daemon creates a random token in ${file} on its first start`,
    };
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    return {
      level: "fail",
      name: "token",
      message: `${file} is readable by other users (mode ${mode.toString(8)})`,
      fix: `chmod 600 ${file}`,
    };
  }
  return { level: "ok", name: "token", message: `the token is in ${file} (mode 600)` };
}

async function checkPort(config: Config): Promise<Check> {
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${config.port}`;
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json().catch(() => null)) as { status?: string; version?: string } | null;
    if (res.ok && body?.status === "ok") {
      return {
        level: "ok",
        name: "port",
        message: `a pixyz-scheduler ${body.version ?? ""} answers on ${url}`,
      };
    }
    return {
      level: "fail",
      name: "port",
      message: `something else answers on ${url} (HTTP ${res.status}): serve cannot listen there`,
      fix: "stop it, or set API_PORT / --port to a free port",
    };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ConnectionRefused" || code === "ECONNREFUSED") {
      return { level: "ok", name: "port", message: `port ${config.port} is free` };
    }
    return {
      level: "warn",
      name: "port",
      message: `port ${config.port}: ${(error as Error).message}`,
      fix: "check that nothing else listens there, or set API_PORT / --port",
    };
  }
}

/** Who jobs run as: the same resolution and privilege check as the daemon's start. */
function checkJobUser(config: Config): Check {
  const fix =
    "create a user for jobs (useradd --system --no-create-home pixyz-job) and set JOB_USER=pixyz-job";
  try {
    const user = resolveJobUser(config.jobUser, config.jobGroup);
    if (!user && process.getuid?.() === 0) {
      return {
        level: "warn",
        name: "job user",
        message:
          "the daemon runs as root and so do its jobs: they can read the token, the database and other jobs' files",
        fix,
      };
    }
    if (!user)
      return { level: "ok", name: "job user", message: "jobs run as the daemon's user (JOB_USER unset)" };
    return {
      level: "ok",
      name: "job user",
      message: `jobs run as ${user.name} (uid ${user.uid}, gid ${user.gid})`,
    };
  } catch (error) {
    return { level: "fail", name: "job user", message: (error as Error).message, fix };
  }
}

export async function runChecks(config: Config, env: NodeJS.ProcessEnv): Promise<Check[]> {
  const [slots, python, port] = await Promise.all([
    checkSlots(config),
    checkPython(config, env.PYTHON_BIN !== undefined),
    checkPort(config),
  ]);
  return [...checkDataDir(config), python, ...slots, checkToken(config), checkJobUser(config), port];
}

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { ...CONFIG_FLAG_OPTIONS, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (error) {
    console.error(
      `pixyz-scheduler doctor: ${(error as Error).message}. Run 'pixyz-scheduler doctor --help'.`,
    );
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let checks: Check[];
  try {
    const config = configFromFlags(values);
    checks = [
      { level: "ok", name: "settings", message: `valid (pixyz-scheduler ${VERSION})` },
      ...(await runChecks(config, process.env)),
    ];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    checks = [
      {
        level: "fail",
        name: "settings",
        message: error.message,
        fix: "correct that setting in the environment, the --config file or the flags (docs/configuration.md)",
      },
    ];
  }
  const failed = checks.some((c) => c.level === "fail");
  if (values.json) {
    console.log(JSON.stringify({ ok: !failed, checks }, null, 2));
  } else {
    for (const check of checks) {
      const tag = { ok: "ok  ", warn: "WARN", fail: "FAIL" }[check.level];
      console.log(`${tag}  ${check.name.padEnd(9)} ${check.message}`);
      if (check.fix && check.level !== "ok") console.log(`      ${"".padEnd(9)} fix: ${check.fix}`);
    }
    const problems = checks.filter((c) => c.level === "fail").length;
    const warnings = checks.filter((c) => c.level === "warn").length;
    console.log(
      problems > 0
        ? `\n${problems} problem(s) to fix${warnings ? `, ${warnings} warning(s)` : ""}.`
        : `\nNothing wrong${warnings ? ` (${warnings} warning(s))` : ""}.`,
    );
  }
  return failed ? 1 : 0;
}
