// The job state machine: the only definition of which status may follow which.
// Pure: no I/O. The store applies a transition only after `assertTransition` allowed it.

export const JobStatus = {
  PENDING: "PENDING",
  STARTED: "STARTED",
  RETRY: "RETRY",
  SUCCESS: "SUCCESS",
  FAILURE: "FAILURE",
  REVOKED: "REVOKED",
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

export const TERMINAL: ReadonlySet<JobStatus> = new Set([
  JobStatus.SUCCESS,
  JobStatus.FAILURE,
  JobStatus.REVOKED,
]);

const ALLOWED: Record<JobStatus, readonly JobStatus[]> = {
  PENDING: [JobStatus.STARTED, JobStatus.REVOKED, JobStatus.FAILURE],
  // STARTED -> PENDING: the daemon died or stopped under a running attempt; it runs again.
  STARTED: [JobStatus.SUCCESS, JobStatus.FAILURE, JobStatus.RETRY, JobStatus.REVOKED, JobStatus.PENDING],
  // RETRY is a waiting state like PENDING, on the escalated queue.
  RETRY: [JobStatus.STARTED, JobStatus.REVOKED, JobStatus.FAILURE],
  SUCCESS: [],
  FAILURE: [],
  REVOKED: [],
};

export function isTerminal(status: string): boolean {
  return TERMINAL.has(status as JobStatus);
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return ALLOWED[from].includes(to);
}

export class IllegalTransition extends Error {
  constructor(
    readonly from: string,
    readonly to: string,
  ) {
    super(`illegal job transition ${from} -> ${to}`);
  }
}

export function assertTransition(from: string, to: JobStatus): void {
  if (!Object.hasOwn(ALLOWED, from) || !canTransition(from as JobStatus, to))
    throw new IllegalTransition(from, to);
}

/** Statuses from which a free slot may start the job. */
export const WAITING: readonly JobStatus[] = [JobStatus.PENDING, JobStatus.RETRY];
