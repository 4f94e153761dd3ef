import type { Ctx } from "pixyz-scheduler/sdk";

/**
 * Sleep for a while, then return how long: a smoke test for the whole pipeline.
 *
 * Params:
 * - `duration` (number, seconds, default 0.1): how long to sleep.
 *
 * Result: `{"sleep": <duration>}`.
 */
export async function main(ctx: Ctx, params: { duration?: number } | null) {
  const duration = Number(params?.duration ?? 0.1);
  if (!Number.isFinite(duration) || duration < 0)
    throw new Error("params.duration must be a number of seconds >= 0");
  ctx.progress.total(1);
  ctx.progress.next(`Sleeping for ${duration} seconds`);
  await Bun.sleep(duration * 1000);
  return { sleep: duration };
}
