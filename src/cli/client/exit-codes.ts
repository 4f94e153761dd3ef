// Exit codes of the client commands. A command that reports a job's state (exec/process with -w,
// status, logs -f) exits with its status's code, the original client.py's batch codes; other
// failures have their own small codes. docs/cli.md lists them.

export const EXIT = {
  OK: 0,
  /** The API answered an error (4xx/5xx), or a download was cut or timed out. */
  API_ERROR: 1,
  /** Wrong flags, unreadable local file, invalid JSON in -p. */
  USAGE: 2,
  /** The daemon could not be reached (connection refused, DNS, reset). */
  CONNECTION: 3,
} as const;

/** The original client's batch-mode codes, by job status. */
const STATUS_CODES: Record<string, number> = {
  SUCCESS: 0,
  FAILURE: 10,
  REVOKED: 11,
  RETRY: 12,
  PENDING: 13,
  STARTED: 14,
  RECEIVED: 15,
  REJECTED: 16,
};

/** 17 for any status the table does not know (the original's UNKNOWN). */
export function exitCodeForStatus(status: string): number {
  return STATUS_CODES[status] ?? 17;
}

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
