// Builds dist/pixyz-scheduler: one executable with the runtime, the API, the migrations, the
// built-in processes, the job harness and the docs assets inside. Run `bun run build`.
// Another output path: `bun scripts/build.ts <outfile>` or OUTFILE=<outfile> (test/binary.test.ts
// builds into a temporary folder that way). Run `bun run gen` first (`bun run build` does).
import { join, resolve } from "node:path";

const root = join(import.meta.dir, "..");
const requested = process.argv[2] ?? process.env.OUTFILE;
const outfile = requested ? resolve(requested) : join(root, "dist/pixyz-scheduler");
const result = await Bun.build({
  entrypoints: [join(root, "src/cli/main.ts")],
  compile: { outfile },
  minify: true,
  sourcemap: "linked",
  bytecode: true,
  format: "esm",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile}`);
