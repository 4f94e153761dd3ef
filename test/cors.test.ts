// Cross-origin access: none by default; CORS_ORIGINS opens it to the named origins only.
import { afterEach, expect, test } from "bun:test";
import { startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";

let daemon: TestDaemon | null = null;
afterEach(async () => {
  await daemon?.close();
  daemon = null;
});

const preflight = (d: TestDaemon, origin: string) =>
  d.api("/jobs", {
    method: "OPTIONS",
    auth: false,
    headers: {
      Origin: origin,
      "Access-Control-Request-Method": "GET",
      "Access-Control-Request-Headers": "x-api-key",
    },
  });

test("by default no origin is allowed", async () => {
  daemon = await startTestDaemon();
  const res = await daemon.api("/jobs", { headers: { Origin: "http://evil.lan" } });
  expect(res.status).toBe(200);
  expect(res.headers.get("access-control-allow-origin")).toBeNull();
  expect((await preflight(daemon, "http://evil.lan")).headers.get("access-control-allow-origin")).toBeNull();
});

test("CORS_ORIGINS allows the named origins, with the x-api-key header, and no other", async () => {
  daemon = await startTestDaemon({ CORS_ORIGINS: "http://dashboard.lan:8080" });
  const ok = await preflight(daemon, "http://dashboard.lan:8080");
  expect(ok.status).toBe(204);
  expect(ok.headers.get("access-control-allow-origin")).toBe("http://dashboard.lan:8080");
  expect(ok.headers.get("access-control-allow-headers")).toContain("x-api-key");
  const other = await preflight(daemon, "http://evil.lan");
  expect(other.headers.get("access-control-allow-origin")).not.toBe("http://evil.lan");
  const get = await daemon.api("/jobs", { headers: { Origin: "http://dashboard.lan:8080" } });
  expect(get.headers.get("access-control-allow-origin")).toBe("http://dashboard.lan:8080");
});

test("a bad CORS_ORIGINS stops the daemon with a message naming it", async () => {
  await expect(startTestDaemon({ CORS_ORIGINS: "dashboard.lan" })).rejects.toThrow(/CORS_ORIGINS/);
});
