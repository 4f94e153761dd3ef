import type { Ctx } from "pixyz-scheduler/sdk";

/**
 * Test the PixyzScheduler API by returning a simple string.
 *
 * Params: anything; they are echoed back.
 *
 * Result: `{"output": "Hello World!", "params": <params>}`.
 */
export async function main(ctx: Ctx, params: unknown) {
  ctx.progress.total(1);
  ctx.progress.next("API tested successfully!");
  return { output: "Hello World!", params };
}
