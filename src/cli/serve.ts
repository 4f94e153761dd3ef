// `pixyz-scheduler serve`: load and validate the configuration, start the daemon, stop cleanly on
// SIGTERM/SIGINT (running jobs get SHUTDOWN_GRACE seconds, then are killed and re-queued).
import { parseArgs } from "node:util";
import type { Config } from "../config/config.ts";
import { ConfigError } from "../config/parse.ts";
import { startDaemon } from "../daemon/daemon.ts";
import { createLogger } from "../log/logger.ts";
import { CONFIG_FLAG_OPTIONS, configFromFlags } from "./config-flags.ts";

const HELP = `Usage: pixyz-scheduler serve [options]

Options (each also an environment variable; flags win):
  --port N           API_PORT       listen port (default 8001)
  --host ADDR        API_HOST       listen address (default 0.0.0.0)
  --data-dir DIR     DATA_DIR       job store and job folders (default ./data)
  --process-dir DIR  PROCESS_DIR    extra processes, added to the built-in ones
  --slots LIST       SLOTS          exact slots per queue, e.g. cpu:4,gpu:1
  --log-level L      LOG_LEVEL      debug, info, warn, error (default info)
  --log-format F     LOG_FORMAT     text or json (default text)
  --config FILE      PIXYZ_CONFIG_FILE  KEY=VALUE file read before the environment

See docs/configuration.md for every setting.`;

/**
 * The daemon runs without JavaScriptCore's top JIT tier (FTL): after a load, that compiler's code
 * stayed resident (about 3 MiB of the idle footprint) and the daemon's CPU per job was no lower
 * with it (bench/footprint.ts, issue #13). The runtime reads the switch only when it starts, so a
 * daemon started without it replaces itself once (execve: same pid, same fds, same arguments) with
 * it set. An operator's own value, 1 included, is kept as it is. Jobs never inherit it.
 */
function runWithoutTopJitTier(): void {
  const execve = (
    process as { execve?: (file: string, args: string[], env: Record<string, string>) => never }
  ).execve;
  if (process.env.BUN_JSC_useFTLJIT !== undefined || !execve) return;
  // The compiled binary puts its own entry (/$bunfs/...) in argv[1] at every start.
  const compiled = Bun.main.startsWith("/$bunfs/");
  const args = compiled
    ? [process.execPath, ...process.argv.slice(2)]
    : [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  const env: Record<string, string> = { BUN_JSC_useFTLJIT: "0" };
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  try {
    execve(process.execPath, args, env);
  } catch {
    // Not replaced (the executable moved away since it started): it runs on with the tier on.
  }
}

export async function run(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { ...CONFIG_FLAG_OPTIONS, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`pixyz-scheduler serve: ${(error as Error).message}. Run 'pixyz-scheduler serve --help'.`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  let config: Config;
  try {
    config = configFromFlags(values);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`pixyz-scheduler: ${error.message}`);
      return 2;
    }
    throw error;
  }
  runWithoutTopJitTier();
  const logger = createLogger(config.logLevel, config.logFormat);
  let refusedSetting = false;
  const daemon = await startDaemon(config, logger).catch((error: Error) => {
    // A setting only checkable at start (JOB_USER): exit 2 like any bad setting, not restarted.
    refusedSetting = error instanceof ConfigError;
    logger.error("cannot start", { error: error.message });
    return null;
  });
  if (!daemon) return refusedSetting ? 2 : 1;
  // The binary starts with the JIT held back (scripts/build.ts): what ran so far ran once. From
  // here on, the normal policy, so hot request and job paths are compiled as usual.
  Bun.unsafe.setJITPolicy(1);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info("signal received", { signal });
      void daemon.stop().then(resolve);
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  return 0;
}
