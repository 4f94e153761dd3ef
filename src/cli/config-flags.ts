// The daemon's settings as command flags (serve, doctor): one list of flags, one way to turn them
// into the validated Config (flags win over the environment, which wins over a config file).
import { type Config, FLAG_SETTINGS, loadConfig } from "../config/config.ts";

/** parseArgs options for every setting flag (see FLAG_SETTINGS) plus --config FILE. */
export const CONFIG_FLAG_OPTIONS = Object.fromEntries(
  [...Object.keys(FLAG_SETTINGS), "config"].map((flag) => [flag, { type: "string" as const }]),
) as Record<string, { type: "string" }>;

/** The Config from parsed flags (other flags in `values` are ignored); throws ConfigError. */
export function configFromFlags(values: Record<string, unknown>): Config {
  const flags: Record<string, string | undefined> = {};
  for (const flag of Object.keys(FLAG_SETTINGS)) {
    const value = values[flag];
    if (typeof value === "string") flags[flag] = value;
  }
  const configFile = typeof values.config === "string" ? values.config : undefined;
  return loadConfig({ env: process.env, flags, configFile });
}
