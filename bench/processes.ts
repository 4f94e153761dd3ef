// Time and peak memory of the built-in 3D processes on each fixture (docs/processes.md).
//
//   bun bench/processes.ts [runs]        (default 3 runs each; the table shows the fastest)
//
// convert_file, generate_metadata and generate_thumbnails run each in a fresh `bun` process
// (bench/process-run.ts) on the bundled files the daemon writes at start (lib/three-d.js and the
// wasm files): wall and CPU time of the entrypoint (the fastest run of each), and that process's
// peak resident memory (getrusage). CPU time moves less than wall time on a busy machine.
// thumbnail_chained runs on a real daemon (its children are jobs): the parent's wall time from
// its details, and the largest peak_rss_kb of its three jobs (sampled every 250 ms, so a lower
// bound). Fixtures: the OBJ cube and STEP box of the tests, occt-import-js's as1-oc-214.stp
// (18 parts), its s1 assembly of 11 part files, and a generated UV sphere of 200,000 triangles.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { zipSync } from "fflate";
import { prepareRuntime } from "../src/runner/runtime.ts";
import { startTestDaemon } from "../test/helpers/daemon.ts";
import { OBJ_CUBE, OCCT_TESTFILES_DIR, stepBox } from "../test/helpers/models.ts";

const runs = Number(process.argv[2] ?? 3);
const work = mkdtempSync(join(tmpdir(), "pxs-bench-3d-"));
const fixtures = join(work, "fixtures");
mkdirSync(fixtures);

/** A UV sphere of radius 1 with `rings` x `segments` quads (2 triangles each). */
function sphereObj(rings: number, segments: number): string {
  const lines: string[] = [];
  for (let r = 0; r <= rings; r++) {
    const theta = (Math.PI * r) / rings;
    for (let s = 0; s < segments; s++) {
      const phi = (2 * Math.PI * s) / segments;
      lines.push(
        `v ${Math.sin(theta) * Math.cos(phi)} ${Math.cos(theta)} ${Math.sin(theta) * Math.sin(phi)}`,
      );
    }
  }
  for (let r = 0; r < rings; r++) {
    for (let s = 0; s < segments; s++) {
      const a = r * segments + s + 1;
      const b = r * segments + ((s + 1) % segments) + 1;
      lines.push(`f ${a} ${b} ${b + segments}`, `f ${a} ${b + segments} ${a + segments}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

writeFileSync(join(fixtures, "cube.obj"), OBJ_CUBE);
writeFileSync(join(fixtures, "box.step"), stepBox(100, 50, 20));
writeFileSync(
  join(fixtures, "as1-oc-214.stp"),
  readFileSync(join(OCCT_TESTFILES_DIR, "cax-if/as1-oc-214.stp")),
);
writeFileSync(join(fixtures, "sphere.obj"), sphereObj(250, 400));
const s1Folder = join(OCCT_TESTFILES_DIR, "cax-if/s1-c5-214");
const s1 = join(fixtures, "s1");
mkdirSync(s1);
const s1Entries: Record<string, Uint8Array> = {};
for (const name of readdirSync(s1Folder).filter((n) => n.endsWith(".stp"))) {
  const bytes = readFileSync(join(s1Folder, name));
  writeFileSync(join(s1, name), bytes);
  s1Entries[`s1/${name}`] = bytes;
}

const FIXTURES = [
  { label: "cube.obj (hand-written, 12 triangles)", file: join(fixtures, "cube.obj"), upload: "cube.obj" },
  { label: "box.step (generated B-rep box)", file: join(fixtures, "box.step"), upload: "box.step" },
  {
    label: "as1-oc-214.stp (18 parts, 8.3k triangles)",
    file: join(fixtures, "as1-oc-214.stp"),
    upload: "as1-oc-214.stp",
  },
  {
    label: "s1.zip (assembly of 11 STEP files, 53k triangles)",
    file: join(s1, "s1-c5-214.stp"),
    upload: "s1.zip",
  },
  {
    label: "sphere.obj (generated, 200k triangles)",
    file: join(fixtures, "sphere.obj"),
    upload: "sphere.obj",
  },
];

const PROCESSES: { name: string; params: unknown }[] = [
  { name: "convert_file", params: { extension: "glb" } },
  { name: "generate_metadata", params: {} },
  { name: "generate_thumbnails", params: {} },
];

const runtime = prepareRuntime(join(work, "data"));
const rows: string[] = [];
const seconds = (ms: number[]) => `${(Math.min(...ms) / 1000).toFixed(2)} s`;
const cell = (ms: number[], kb: number[], cpuMs?: number[]) =>
  `${seconds(ms)}${cpuMs ? ` (cpu ${seconds(cpuMs)})` : ""}, ${Math.round(Math.max(...kb) / 1024)} MB`;

for (const fixture of FIXTURES) {
  const cells: string[] = [];
  for (const run of PROCESSES) {
    const ms: number[] = [];
    const cpuMs: number[] = [];
    const kb: number[] = [];
    for (let i = 0; i < runs; i++) {
      const out = join(work, "out");
      rmSync(out, { recursive: true, force: true });
      mkdirSync(out);
      const child = Bun.spawnSync(
        [
          process.execPath,
          join(import.meta.dir, "process-run.ts"),
          join(runtime.builtinProcessDir, `${run.name}.ts`),
          fixture.file,
          out,
          JSON.stringify(run.params),
        ],
        { stdout: "pipe", stderr: "pipe" },
      );
      if (child.exitCode !== 0)
        throw new Error(`${run.name} on ${fixture.label}: ${child.stderr.toString()}`);
      const report = JSON.parse(child.stdout.toString().trim().split("\n").at(-1)!) as {
        ms: number;
        cpuMs: number;
        maxRssKb: number;
      };
      ms.push(report.ms);
      cpuMs.push(report.cpuMs);
      kb.push(report.maxRssKb);
    }
    cells.push(cell(ms, kb, cpuMs));
  }
  rows.push(`| ${fixture.label} | ${cells.join(" | ")} |`);
}

// thumbnail_chained: three jobs on a real daemon.
const daemon = await startTestDaemon({ SLOTS: "cpu:2" });
const chained: string[] = [];
try {
  for (const fixture of FIXTURES) {
    const ms: number[] = [];
    const kb: number[] = [];
    for (let i = 0; i < runs; i++) {
      const bytes = fixture.upload.endsWith(".zip")
        ? zipSync(s1Entries, { level: 1 })
        : readFileSync(fixture.file);
      const params = fixture.upload.endsWith(".zip") ? { filename: "s1-c5-214.stp" } : {};
      const res = await daemon.submit({
        process: "thumbnail_chained",
        file: new File([bytes], fixture.upload),
        params: JSON.stringify(params),
      });
      const { uuid } = (await res.json()) as { uuid: string };
      const parent = (await daemon.waitFor(uuid, undefined, 300_000)) as Record<string, unknown>;
      if (parent.status !== "SUCCESS")
        throw new Error(`thumbnail_chained on ${fixture.label}: ${parent.error}`);
      const times = parent.time_info as { started: string; stopped: string };
      ms.push(Date.parse(times.stopped) - Date.parse(times.started));
      const jobs = [
        parent,
        ...(await Promise.all((parent.children as string[]).map((c) => daemon.waitFor(c)))),
      ];
      kb.push(
        Math.max(...jobs.map((j) => (j.attempts as { peak_rss_kb: number | null }[])[0]?.peak_rss_kb ?? 0)),
      );
    }
    chained.push(cell(ms, kb));
  }
} finally {
  await daemon.close();
  rmSync(work, { recursive: true, force: true });
}

console.log(`| fixture | ${PROCESSES.map((p) => p.name).join(" | ")} | thumbnail_chained |`);
console.log(`|---|${PROCESSES.map(() => "---").join("|")}|---|`);
rows.forEach((row, i) => {
  console.log(`${row} ${chained[i]} |`);
});
