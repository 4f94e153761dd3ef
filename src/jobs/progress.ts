// Progress of one attempt, folded from the child's messages. Pure.
// Semantics of the original's TaskProgress: next() closes the open step and opens a new one whose
// duration reads -1 while it runs; percent = steps ended / total; stop closes the last step.

export interface Step {
  duration: number;
  info: string;
}

export interface ProgressState {
  total: number;
  steps: Step[];
  /** Child clock (ms) at which the open step started; null when no step is open. */
  openSince: number | null;
}

export const emptyProgress = (): ProgressState => ({ total: 1, steps: [], openSince: null });

function closeOpen(state: ProgressState, at: number): Step[] {
  if (state.openSince === null || state.steps.length === 0) return state.steps;
  const steps = state.steps.slice();
  const last = steps[steps.length - 1]!;
  steps[steps.length - 1] = { ...last, duration: Math.max(0, at - state.openSince) / 1000 };
  return steps;
}

export function setTotal(state: ProgressState, n: number): ProgressState {
  return { ...state, total: Number.isFinite(n) && n > 0 ? Math.trunc(n) : 1 };
}

export function nextStep(state: ProgressState, info: string, at: number): ProgressState {
  const steps = closeOpen(state, at);
  const label = info === "" ? `step ${steps.length + 1}` : info;
  return { ...state, steps: [...steps, { duration: -1, info: label }], openSince: at };
}

export function stop(state: ProgressState, at: number): ProgressState {
  return { ...state, steps: closeOpen(state, at), openSince: null };
}

/** Steps ended / total, in percent, clamped to 0..100. */
export function percent(state: ProgressState): number {
  const ended = state.openSince === null ? state.steps.length : state.steps.length - 1;
  return Math.max(0, Math.min(100, Math.trunc((ended / state.total) * 100)));
}
