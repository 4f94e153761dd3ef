// GET /metrics against a real daemon: the text parses strictly as Prometheus 0.0.4, and its
// numbers follow what really happened (jobs run, retried, escalated; uploads; HTTP requests).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { scriptFile, startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";
import { eventually } from "./helpers/procs.ts";
import { type Family, parsePrometheusText, sampleValue, sumSamples } from "./helpers/prometheus.ts";

let d: TestDaemon;
beforeAll(async () => {
  // One cpu slot and one gpuhigh slot: a crash on cpu escalates to gpuhigh, as the original did.
  d = await startTestDaemon({ SLOTS: "cpu:1,gpuhigh:1" });
});
afterAll(() => d.close());

async function scrape(): Promise<Map<string, Family>> {
  const res = await d.api("/metrics", { auth: false });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parsePrometheusText(await res.text());
}

async function submit(fields: Record<string, string | File>): Promise<string> {
  const res = await d.submit(fields);
  expect(res.status).toBe(200);
  return ((await res.json()) as { uuid: string }).uuid;
}

describe("the strict Prometheus reader used here", () => {
  test("refuses what the format does not allow", () => {
    expect(() => parsePrometheusText("a 1")).toThrow("newline");
    expect(() => parsePrometheusText("a{b=c} 1\n")).toThrow("bad label");
    expect(() => parsePrometheusText("a 1\na 2\n")).toThrow("twice");
    expect(() => parsePrometheusText("a one\n")).toThrow("sample value");
    expect(() => parsePrometheusText('# TYPE a counter\na 1\nb 1\na{x="1"} 1\n')).toThrow("not together");
    expect(() => parsePrometheusText("# TYPE a counter\n# TYPE a gauge\na 1\n")).toThrow("TYPE given twice");
    expect(() =>
      parsePrometheusText(
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      ),
    ).toThrow("cumulative");
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n')).toThrow(
      "+Inf",
    );
    const ok = parsePrometheusText('# HELP a The a\n# TYPE a gauge\na{q="x\\"y"} 1.5e3\n');
    expect(sampleValue(ok, "a", { q: 'x"y' })).toBe(1500);
  });
});

describe("GET /metrics", () => {
  test("is public, parses, and names what it measures", async () => {
    const metrics = await scrape();
    for (const [name, type] of [
      ["pixyz_jobs", "gauge"],
      ["pixyz_slots", "gauge"],
      ["pixyz_slots_busy", "gauge"],
      ["pixyz_job_wait_seconds", "histogram"],
      ["pixyz_job_run_seconds", "histogram"],
      ["pixyz_job_retries_total", "counter"],
      ["pixyz_job_escalations_total", "counter"],
      ["pixyz_jobs_submitted_total", "counter"],
      ["pixyz_jobs_finished_total", "counter"],
      ["pixyz_uploads_total", "counter"],
      ["pixyz_upload_bytes_total", "counter"],
      ["pixyz_http_requests_total", "counter"],
      ["pixyz_http_request_duration_seconds", "histogram"],
      ["process_resident_memory_bytes", "gauge"],
    ] as const) {
      const family = metrics.get(name);
      expect(family, name).toBeDefined();
      expect(family!.type).toBe(type);
      expect(family!.help).toBeTruthy();
    }
    expect(sampleValue(metrics, "pixyz_slots", { queue: "cpu" })).toBe(1);
    expect(sampleValue(metrics, "pixyz_slots", { queue: "gpuhigh" })).toBe(1);
    expect(sampleValue(metrics, "pixyz_build_info", { version: "0.1.0" })).toBe(1);
    expect(sampleValue(metrics, "process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);
  });

  test("its numbers move when jobs run, retry, escalate and fail", async () => {
    const before = await scrape();
    const ok = await submit({
      script: scriptFile(
        `export async function main(ctx) { ctx.progress.total(1); ctx.progress.next("x"); await Bun.sleep(50); return 1; }`,
      ),
      file: new File([new Uint8Array(64 * 1024)], "model.fbx"),
    });
    // An infrastructure failure (non-zero exit) on cpu: RETRY escalated to gpuhigh, which fails it for good.
    const crash = await submit({ script: scriptFile(`export function main() { process.exit(3); }`) });
    // A long one, to see a busy slot.
    const long = await submit({
      script: scriptFile(`export async function main() { await Bun.sleep(60000); }`),
    });
    expect((await d.waitFor(ok)).status).toBe("SUCCESS");
    const crashed = await d.waitFor(crash);
    expect(crashed.status).toBe("FAILURE");
    expect(crashed.retry).toBe(1);
    await d.waitFor(long, ["STARTED"]);

    const during = await scrape();
    expect(sumSamples(during, "pixyz_slots_busy")).toBe(1);
    expect(sampleValue(during, "pixyz_jobs", { queue: "cpu", status: "STARTED" })).toBe(1);

    expect((await d.api(`/jobs/${long}`, { method: "DELETE" })).status).toBe(200);
    await d.waitFor(long);
    // REVOKED is stored at once; the slot frees once the killed process has exited.
    expect(await eventually(() => d.scheduler.runningCount === 0, 5000)).toBe(true);
    await d.api("/no/such/route");
    await d.api(`/jobs/${ok}`, { auth: false });
    const after = await scrape();

    const delta = (name: string, labels: Record<string, string> = {}) =>
      (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);

    // Jobs by queue and status: the store's view.
    expect(delta("pixyz_jobs", { queue: "cpu", status: "SUCCESS" })).toBe(1);
    expect(delta("pixyz_jobs", { queue: "cpu", status: "REVOKED" })).toBe(1);
    expect(delta("pixyz_jobs", { queue: "gpuhigh", status: "FAILURE" })).toBe(1);
    expect(sampleValue(after, "pixyz_jobs", { queue: "cpu", status: "STARTED" })).toBe(0);
    // Counted from the events as they happened.
    expect(delta("pixyz_jobs_submitted_total", { queue: "cpu" })).toBe(3);
    expect(delta("pixyz_jobs_finished_total", { queue: "cpu", status: "SUCCESS" })).toBe(1);
    expect(delta("pixyz_jobs_finished_total", { queue: "gpuhigh", status: "FAILURE" })).toBe(1);
    expect(delta("pixyz_jobs_finished_total", { queue: "cpu", status: "REVOKED" })).toBe(1);
    expect(delta("pixyz_job_retries_total", { from_queue: "cpu", to_queue: "gpuhigh" })).toBe(1);
    expect(delta("pixyz_job_escalations_total", { from_queue: "cpu", to_queue: "gpuhigh" })).toBe(1);
    // Waits: 3 starts on cpu, 1 on gpuhigh. Runs: by outcome.
    expect(delta("pixyz_job_wait_seconds_count", { queue: "cpu" })).toBe(3);
    expect(delta("pixyz_job_wait_seconds_count", { queue: "gpuhigh" })).toBe(1);
    expect(delta("pixyz_job_run_seconds_count", { queue: "cpu", outcome: "SUCCESS" })).toBe(1);
    expect(delta("pixyz_job_run_seconds_count", { queue: "cpu", outcome: "RETRY" })).toBe(1);
    expect(delta("pixyz_job_run_seconds_count", { queue: "gpuhigh", outcome: "FAILURE" })).toBe(1);
    expect(delta("pixyz_job_run_seconds_count", { queue: "cpu", outcome: "REVOKED" })).toBe(1);
    expect(delta("pixyz_job_run_seconds_sum", { queue: "cpu", outcome: "SUCCESS" })).toBeGreaterThan(0.04);
    // The running job showed as busy; now nothing runs.
    expect(sumSamples(after, "pixyz_slots_busy")).toBe(0);
    // Uploads: three accepted, with at least the 64 KiB input in their bytes.
    expect(delta("pixyz_uploads_total", { result: "accepted" })).toBe(3);
    expect(delta("pixyz_upload_bytes_total", { result: "accepted" })).toBeGreaterThan(64 * 1024);
    // HTTP by route pattern and code, never by raw path.
    expect(delta("pixyz_http_requests_total", { method: "POST", route: "/jobs", code: "200" })).toBe(3);
    expect(
      delta("pixyz_http_requests_total", { method: "GET", route: "/jobs/:uuid/details", code: "200" }),
    ).toBeGreaterThan(0);
    expect(delta("pixyz_http_requests_total", { method: "DELETE", route: "/jobs/:uuid", code: "200" })).toBe(
      1,
    );
    expect(delta("pixyz_http_requests_total", { method: "GET", route: "/jobs/:uuid", code: "401" })).toBe(1);
    expect(delta("pixyz_http_requests_total", { method: "GET", route: "(unmatched)", code: "404" })).toBe(1);
    expect(delta("pixyz_http_requests_total", { method: "GET", route: "/metrics", code: "200" })).toBe(2);
    for (const family of after.values()) {
      for (const sample of family.samples) {
        if (sample.labels.route !== undefined) expect(sample.labels.route).not.toContain(ok);
      }
    }
  });

  test("a refused submission counts as refused", async () => {
    const before = await scrape();
    const res = await d.submit({ params: "{not json", script: scriptFile("export function main() {}") });
    expect(res.status).toBe(400);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) =>
      (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);
    expect(delta("pixyz_uploads_total", { result: "refused" })).toBe(1);
    expect(delta("pixyz_http_requests_total", { method: "POST", route: "/jobs", code: "400" })).toBe(1);
  });
});
