// The one typed, validated configuration. Sources, weakest first: defaults, an optional config
// file (KEY=VALUE lines, as the original's pixyz-scheduler.conf), the environment, command flags.
// Nothing else in the program reads process.env for settings.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import {
  bool,
  bytes,
  ConfigError,
  corsOrigins,
  cronPattern,
  int,
  oneOf,
  peerSecret,
  peerUrls,
  sha256Hex,
  slots,
  text,
} from "./parse.ts";

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** Lowercase hex SHA-256 of the API token; null: use (or create) the token file in dataDir. */
  godPasswordSha256: string | null;
  /** Folder of extra processes that add to or override the built-in ones. */
  processDir: string | null;
  /** Exact slot counts per queue; null: derive from the machine. */
  slots: Record<string, number> | null;
  defaultTimeLimitS: number;
  retryTimeLimitS: number;
  /** Per-job memory limit in KB, 0 = unlimited. */
  maxMemoryKb: number;
  /** Per-queue memory limits in KB (MAX_MEMORY_USAGE_<QUEUE>), overriding maxMemoryKb. */
  maxMemoryKbByQueue: Record<string, number>;
  /** The nvidia-smi to ask for GPUs (a path, or a name looked up on PATH). */
  nvidiaSmi: string;
  gpuhighMinVramMb: number;
  cpuSlotCores: number;
  cpuSlotMemoryMb: number;
  cpuJobsOnGpuSlots: boolean;
  /** Slots for the `control` queue (orchestrating jobs that mostly wait on children); they take no core. */
  controlSlots: number;
  /** What a gpu/gpuhigh job does when no local slot serves its queue: run on a cpu slot, or wait. */
  gpuFallback: "cpu" | "wait";
  /** Keep a started TS harness waiting in each slot (faster job start); off: every job starts cold. */
  warmChildren: boolean;
  /** Seconds without a job after which warm children are stopped (0: kept). */
  warmIdleS: number;
  /** Jobs one warm TS harness may run before it exits (1: one job per process, the default; an opt-in above). */
  jobsPerChild: number;
  /** Cap of a job's log file in bytes; past it the job is stopped. */
  jobLogMaxBytes: number;
  /** Retries after infrastructure failures (the original: 1, on gpuhigh). */
  maxRetries: number;
  /** Times a job may be interrupted by a daemon crash/stop before it is failed as poison. */
  maxLostAttempts: number;
  /** The most bytes the files of one submission may hold together (MAX_UPLOAD_SIZE). */
  maxUploadBytes: number;
  /** An upload whose body brings less than 16 KiB in this many seconds (stalled, trickling) is ended (408). */
  uploadIdleTimeoutS: number;
  /** Uploads are refused (507) when they would leave less free disk than this; 0 = no floor. */
  minFreeDiskBytes: number;
  /** Limits on an uploaded archive: entries, extracted bytes, extracted/archive size ratio. */
  archiveMaxEntries: number;
  archiveMaxBytes: number;
  archiveMaxRatio: number;
  cleanupEnabled: boolean;
  cleanupDelayS: number;
  cleanupCron: string;
  /** Job rows (and anything left of their folders) finished longer ago than this are deleted; 0 = keep. */
  jobRetentionS: number;
  shutdownGraceS: number;
  /** TLS_CERT and TLS_KEY (PEM files): the daemon serves HTTPS; null: plain HTTP. */
  tls: { certFile: string; keyFile: string } | null;
  /** Origins a browser page may call the API from (CORS); empty: none, `*`: any. */
  corsOrigins: string[];
  logLevel: "debug" | "info" | "warn" | "error";
  logFormat: "text" | "json";
  pythonBin: string;
  /** The user (and group) every job process runs as (JOB_USER, JOB_GROUP); null: the daemon's. */
  jobUser: string | null;
  jobGroup: string | null;
  /** JOB_SANDBOX: "bwrap" also runs each job in a bubblewrap sandbox (needs jobUser). */
  jobSandbox: "none" | "bwrap";
  /** Federation (docs/federation.md): off unless peerSecret is set. */
  federation: {
    nodeName: string;
    /** The URL peers use to reach this daemon; null: derived from the bound address at start. */
    advertiseUrl: string | null;
    peers: string[];
    peerSecret: string | null;
    advertIntervalS: number;
    leaseTtlS: number;
    /** A job waiting this long goes to a free peer even when a local slot serves its queue; 0: never. */
    spillDelayS: number;
    /** `mdns`: also find peers on the LAN by multicast DNS (needs peerSecret); `off`: PEERS only. */
    discovery: "off" | "mdns";
  };
}

/** Flag name -> setting name, so flags and env share one validation. */
export const FLAG_SETTINGS: Record<string, string> = {
  port: "API_PORT",
  host: "API_HOST",
  "data-dir": "DATA_DIR",
  "process-dir": "PROCESS_DIR",
  slots: "SLOTS",
  "log-level": "LOG_LEVEL",
  "log-format": "LOG_FORMAT",
};

/** Reads KEY=VALUE lines; `#` comments, blank lines and optional quotes allowed. */
export function parseEnvFile(content: string, path: string): Record<string, string> {
  const values: Record<string, string> = {};
  content.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (!match) throw new ConfigError(`invalid config file ${path} line ${i + 1}: expected KEY=VALUE`);
    values[match[1]!] = match[2]!.replace(/^(['"])(.*)\1$/, "$2");
  });
  return values;
}

export interface ConfigSources {
  env: Record<string, string | undefined>;
  /** Flag values keyed by flag name (without dashes). */
  flags?: Record<string, string | undefined>;
  configFile?: string | null;
}

export function loadConfig({ env, flags = {}, configFile }: ConfigSources): Config {
  const filePath = configFile ?? text(env.PIXYZ_CONFIG_FILE);
  let fileValues: Record<string, string> = {};
  if (filePath) {
    let content: string;
    try {
      content = readFileSync(filePath, "utf8");
    } catch (error) {
      throw new ConfigError(`cannot read config file ${filePath}: ${(error as Error).message}`);
    }
    fileValues = parseEnvFile(content, filePath);
  }
  const raw: Record<string, string | undefined> = { ...fileValues };
  for (const [key, value] of Object.entries(env)) if (value !== undefined) raw[key] = value;
  for (const [flag, value] of Object.entries(flags)) {
    const setting = FLAG_SETTINGS[flag];
    if (setting && value !== undefined) raw[setting] = value;
  }

  return {
    host: text(raw.API_HOST) ?? "0.0.0.0",
    port: int("API_PORT", raw.API_PORT, 8001, 0, 65535),
    dataDir: resolve(text(raw.DATA_DIR) ?? "./data"),
    godPasswordSha256: sha256Hex("GOD_PASSWORD_SHA256", raw.GOD_PASSWORD_SHA256),
    processDir: text(raw.PROCESS_DIR) ? resolve(text(raw.PROCESS_DIR)!) : null,
    slots: slots("SLOTS", raw.SLOTS),
    defaultTimeLimitS: int("PIXYZ_TIME_LIMIT", raw.PIXYZ_TIME_LIMIT, 3600, 1, 30 * 86400),
    retryTimeLimitS: int("PIXYZ_RETRY_TIME_LIMIT", raw.PIXYZ_RETRY_TIME_LIMIT, 3600, 1, 30 * 86400),
    maxMemoryKb: int("MAX_MEMORY_USAGE", raw.MAX_MEMORY_USAGE, 0, 0, 2 ** 40),
    maxMemoryKbByQueue: Object.fromEntries(
      Object.keys(raw)
        .map((key) => /^MAX_MEMORY_USAGE_([A-Z][A-Z0-9_]{0,31})$/.exec(key))
        // An empty value means "not set": the queue keeps MAX_MEMORY_USAGE.
        .filter((m): m is RegExpExecArray => m !== null && (raw[m[0]] ?? "").trim() !== "")
        .map((m) => [m[1]!.toLowerCase(), int(m[0], raw[m[0]], 0, 0, 2 ** 40)]),
    ),
    nvidiaSmi: text(raw.NVIDIA_SMI) ?? "nvidia-smi",
    gpuhighMinVramMb: int("GPUHIGH_MIN_VRAM_MB", raw.GPUHIGH_MIN_VRAM_MB, 20480, 0, 2 ** 24),
    cpuSlotCores: int("CPU_SLOT_CORES", raw.CPU_SLOT_CORES, 1, 1, 1024),
    cpuSlotMemoryMb: int("CPU_SLOT_MEMORY_MB", raw.CPU_SLOT_MEMORY_MB, 2048, 1, 2 ** 24),
    cpuJobsOnGpuSlots: bool("CPU_JOBS_ON_GPU_SLOTS", raw.CPU_JOBS_ON_GPU_SLOTS, false),
    controlSlots: int("CONTROL_SLOTS", raw.CONTROL_SLOTS, 4, 0, 1024),
    gpuFallback: oneOf("GPU_FALLBACK", raw.GPU_FALLBACK, "cpu", ["cpu", "wait"]),
    warmChildren: bool("WARM_CHILDREN", raw.WARM_CHILDREN, true),
    warmIdleS: int("WARM_IDLE", raw.WARM_IDLE, 60, 0, 86400),
    jobsPerChild: int("JOBS_PER_CHILD", raw.JOBS_PER_CHILD, 1, 1, 100_000),
    jobLogMaxBytes: bytes("JOB_LOG_MAX_BYTES", raw.JOB_LOG_MAX_BYTES, 100 * 1024 ** 2),
    maxRetries: int("MAX_RETRIES", raw.MAX_RETRIES, 1, 0, 10),
    maxLostAttempts: int("MAX_LOST_ATTEMPTS", raw.MAX_LOST_ATTEMPTS, 3, 1, 100),
    maxUploadBytes: bytes("MAX_UPLOAD_SIZE", raw.MAX_UPLOAD_SIZE, 10 * 1024 ** 3),
    uploadIdleTimeoutS: int("UPLOAD_IDLE_TIMEOUT", raw.UPLOAD_IDLE_TIMEOUT, 30, 1, 3600),
    minFreeDiskBytes: bytes("MIN_FREE_DISK", raw.MIN_FREE_DISK, 1024 ** 3, true),
    archiveMaxEntries: int("ARCHIVE_MAX_ENTRIES", raw.ARCHIVE_MAX_ENTRIES, 100_000, 1, 10_000_000),
    archiveMaxBytes: bytes("ARCHIVE_MAX_SIZE", raw.ARCHIVE_MAX_SIZE, 64 * 1024 ** 3),
    archiveMaxRatio: int("ARCHIVE_MAX_RATIO", raw.ARCHIVE_MAX_RATIO, 200, 1, 1_000_000),
    cleanupEnabled: bool("CLEANUP_ENABLED", raw.CLEANUP_ENABLED, false),
    cleanupDelayS: int("CLEANUP_DELAY", raw.CLEANUP_DELAY, 3600, 0, 10 * 365 * 86400),
    cleanupCron: cronPattern("CLEANUP_CRON", raw.CLEANUP_CRON, "0 */10 * * * *"),
    jobRetentionS: int("JOB_RETENTION", raw.JOB_RETENTION, 0, 0, 100 * 365 * 86400),
    shutdownGraceS: int("SHUTDOWN_GRACE", raw.SHUTDOWN_GRACE, 30, 0, 86400),
    corsOrigins: corsOrigins("CORS_ORIGINS", raw.CORS_ORIGINS),
    tls: tlsFiles(raw.TLS_CERT, raw.TLS_KEY),
    logLevel: oneOf("LOG_LEVEL", raw.LOG_LEVEL ?? raw.LOGLEVEL, "info", ["debug", "info", "warn", "error"]),
    logFormat: oneOf("LOG_FORMAT", raw.LOG_FORMAT, "text", ["text", "json"]),
    pythonBin: text(raw.PYTHON_BIN) ?? "python3",
    jobUser: text(raw.JOB_USER),
    jobGroup: text(raw.JOB_GROUP),
    jobSandbox: oneOf("JOB_SANDBOX", raw.JOB_SANDBOX, "none", ["none", "bwrap"]),
    federation: {
      nodeName: text(raw.NODE_NAME) ?? hostname(),
      advertiseUrl: peerUrls("ADVERTISE_URL", raw.ADVERTISE_URL)[0] ?? null,
      peers: peerUrls("PEERS", raw.PEERS),
      peerSecret: peerSecret("PEER_SECRET", raw.PEER_SECRET),
      advertIntervalS: int("ADVERT_INTERVAL", raw.ADVERT_INTERVAL, 5, 1, 300),
      leaseTtlS: int("LEASE_TTL", raw.LEASE_TTL, 30, 3, 3600),
      spillDelayS: int("SPILL_DELAY", raw.SPILL_DELAY, 30, 0, 86400),
      discovery: oneOf("DISCOVERY", raw.DISCOVERY, "off", ["off", "mdns"]),
    },
  };
}

/** TLS_CERT and TLS_KEY: both readable PEM files, or neither. */
function tlsFiles(certRaw: string | undefined, keyRaw: string | undefined): Config["tls"] {
  const cert = text(certRaw);
  const key = text(keyRaw);
  if (cert === null && key === null) return null;
  if (cert === null || key === null) {
    throw new ConfigError("invalid TLS_CERT/TLS_KEY: set both (PEM files) to serve HTTPS, or neither");
  }
  for (const [name, path] of [
    ["TLS_CERT", cert],
    ["TLS_KEY", key],
  ] as const) {
    try {
      readFileSync(resolve(path));
    } catch (error) {
      throw new ConfigError(
        `invalid ${name}: cannot read '${path}' (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
  }
  return { certFile: resolve(cert), keyFile: resolve(key) };
}
