// The `config` form field: which keys a user may set, what each must look like, and how it merges
// with the defaults (and, later, the script's own declaration). Pure; errors say what to fix.

export class ConfigFieldError extends Error {}

export interface WorkerConfig {
  entrypoint: string;
  queue: string;
  timeLimitS: number;
  priority: number;
  computeOnly: boolean;
  rootFile: string | null;
}

/** Keys the original fixes itself; a user value is ignored with a warning. */
const IMMUTABLE = new Set(["script", "data", "shadow", "uuid", "task_id", "is_local"]);
const QUEUE = /^[a-z][a-z0-9_-]{0,31}$/;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;
export const MAX_TIME_LIMIT_S = 30 * 86400;

function field(key: string, value: unknown, parsed: Partial<WorkerConfig>): void {
  switch (key) {
    case "entrypoint":
      if (typeof value !== "string" || !IDENTIFIER.test(value)) {
        throw new ConfigFieldError(
          `config.entrypoint must be a function name such as "main", got ${JSON.stringify(value)}`,
        );
      }
      parsed.entrypoint = value;
      return;
    case "queue":
      if (typeof value !== "string" || !QUEUE.test(value)) {
        throw new ConfigFieldError(
          `config.queue must be a queue name (lowercase letters, digits, '-' or '_'), e.g. "cpu", "gpu" or "gpuhigh"; got ${JSON.stringify(value)}`,
        );
      }
      parsed.queue = value;
      return;
    case "time_limit": {
      const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
      if (typeof n !== "number" || !Number.isFinite(n) || n <= 0 || n > MAX_TIME_LIMIT_S) {
        throw new ConfigFieldError(
          `config.time_limit must be a number of seconds from 1 to ${MAX_TIME_LIMIT_S}, got ${JSON.stringify(value)}`,
        );
      }
      parsed.timeLimitS = Math.ceil(n);
      return;
    }
    case "priority":
      if (typeof value !== "number" || !Number.isInteger(value) || value < -1000 || value > 1000) {
        throw new ConfigFieldError(
          `config.priority must be an integer from -1000 to 1000 (higher runs first), got ${JSON.stringify(value)}`,
        );
      }
      parsed.priority = value;
      return;
    case "compute_only":
      if (typeof value !== "boolean")
        throw new ConfigFieldError(`config.compute_only must be true or false, got ${JSON.stringify(value)}`);
      parsed.computeOnly = value;
      return;
    case "root_file":
      if (
        typeof value !== "string" ||
        value === "" ||
        value.startsWith("/") ||
        value.split(/[\\/]/).includes("..")
      ) {
        throw new ConfigFieldError(
          `config.root_file must be a relative path inside the uploaded archive, got ${JSON.stringify(value)}`,
        );
      }
      parsed.rootFile = value;
      return;
  }
}

/**
 * Validates a parsed `config` object. Null values mean "use the default" (clients send them);
 * immutable and unknown keys are ignored and reported in `warnings`.
 */
export function parseUserConfig(raw: unknown): { config: Partial<WorkerConfig>; warnings: string[] } {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigFieldError(`'config' must be a JSON object such as {"queue": "cpu", "time_limit": 600}`);
  }
  const config: Partial<WorkerConfig> = {};
  const warnings: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (value === null) continue;
    if (IMMUTABLE.has(key)) {
      warnings.push(`config.${key} is set by the scheduler and was ignored`);
      continue;
    }
    if (!["entrypoint", "queue", "time_limit", "priority", "compute_only", "root_file"].includes(key)) {
      warnings.push(`config.${key} is not a known setting and was ignored`);
      continue;
    }
    field(key, value, config);
  }
  return { config, warnings };
}

/** Precedence as the original: defaults < the script's declaration < the user's config. */
export function mergeConfig(
  defaults: WorkerConfig,
  declared: Partial<WorkerConfig>,
  user: Partial<WorkerConfig>,
): WorkerConfig {
  return { ...defaults, ...declared, ...user };
}
