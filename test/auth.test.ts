// x-api-key authentication, the public routes, the token file, and the OpenAPI/docs pages,
// through a real daemon.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { createApp } from "../src/api/app.ts";
import { protectedRoutes } from "../src/api/auth.ts";
import type { ApiDeps } from "../src/api/deps.ts";
import { EventBus } from "../src/events/bus.ts";
import { silentLogger } from "../src/log/logger.ts";
import { startTestDaemon, type TestDaemon, TOKEN, TOKEN_SHA256, tempDir } from "./helpers/daemon.ts";

const UUID = "0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b";

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.close());

/** Every route that needs the token, with a valid-looking request. */
const PROTECTED: [method: string, path: string][] = [
  ["GET", "/jobs"],
  ["GET", "/jobs/"],
  ["POST", "/jobs"],
  ["GET", `/jobs/${UUID}`],
  ["GET", `/jobs/${UUID}/details`],
  ["GET", `/jobs/${UUID}/outputs`],
  ["GET", `/jobs/${UUID}/outputs/out.glb`],
  ["GET", `/jobs/${UUID}/outputs/sub/out.glb`],
  ["GET", `/jobs/${UUID}/outputs/archive`],
];

function request(method: string, path: string, headers: Record<string, string> = {}): Promise<Response> {
  const init: RequestInit = { method, headers };
  if (method === "POST") {
    const form = new FormData();
    form.append("process", "sleep");
    init.body = form;
  }
  return fetch(`${d.url}${path}`, init);
}

async function expectUnauthorized(res: Response): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toBe("x-api-key");
  expect(await res.text()).toBe('{"detail":"Invalid token"}');
}

describe("protected routes", () => {
  test.each(PROTECTED)("%s %s without a token is a 401 Invalid token", async (method, path) => {
    await expectUnauthorized(await request(method, path));
  });

  test.each(PROTECTED)("%s %s with a wrong token is a 401 Invalid token", async (method, path) => {
    await expectUnauthorized(await request(method, path, { "x-api-key": "wrong-token" }));
  });

  test("every route documented as protected answers 401 without a key (HEAD too, and percent-encoded paths)", async () => {
    const doc = (await (await fetch(`${d.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    const checked: string[] = [];
    for (const [template, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (!operation.security?.length) continue;
        const path = template
          .replace("{uuid}", UUID)
          .replace("{path}", "sub/out.glb")
          .replace("{name}", "sleep");
        expect(path).not.toContain("{"); // every parameter got a value
        const verbs = method === "get" ? ["GET", "HEAD"] : [method.toUpperCase()];
        for (const verb of verbs) {
          const res = await request(verb, path);
          expect({ verb, path, status: res.status }).toEqual({ verb, path, status: 401 });
          checked.push(`${verb} ${template}`);
        }
      }
    }
    expect(checked.length).toBeGreaterThanOrEqual(15);
    // The same routes reached through percent-encoded or trailing-slash spellings.
    for (const path of ["/job%73", "/jobs/", `/jobs/${UUID}/detail%73`, "/queue%73", "/%6Aobs"]) {
      const res = await request("GET", path);
      expect({ path, status: res.status }).toEqual({ path, status: res.status === 404 ? 404 : 401 });
    }
  });

  test("every route the app serves is documented as protected, or is one of the public ones", () => {
    const app = createApp({
      bus: new EventBus(),
      tokenSha256: TOKEN_SHA256,
      version: "0",
      logger: silentLogger,
    } as unknown as ApiDeps);
    const documented = protectedRoutes(app.openAPIRegistry);
    const PUBLIC = new Set([
      "GET /",
      "GET /health",
      "GET /metrics",
      "GET /openapi.json",
      "GET /docs",
      "GET /redoc",
      "GET /processes",
      "GET /processes/:name",
    ]);
    const routes = app.routes.filter((r) => r.method !== "ALL");
    for (const { method, path } of routes) {
      const sample = path.replace(":uuid", UUID).replace(":path{.+}", "a/b.txt").replace(":name", "sleep");
      const isProtected = documented.some((rule) => rule.method === method && rule.pattern.test(sample));
      // The dashboard's page, assets and sign-in/out are public; what it reads is the API above.
      const isPublic =
        PUBLIC.has(`${method} ${path}`) || /^\/(docs|redoc)\/assets\//.test(path) || /^\/ui(\/|$)/.test(path);
      expect({ route: `${method} ${path}`, covered: isProtected || isPublic }).toEqual({
        route: `${method} ${path}`,
        covered: true,
      });
    }
    expect(routes.length).toBeGreaterThanOrEqual(20);
  });

  test("an empty token, the token's hash itself, or the token in another header are refused", async () => {
    await expectUnauthorized(await request("GET", "/jobs", { "x-api-key": "" }));
    await expectUnauthorized(await request("GET", "/jobs", { "x-api-key": TOKEN_SHA256 }));
    await expectUnauthorized(await request("GET", "/jobs", { "x-api-key": `${TOKEN}x` }));
    await expectUnauthorized(await request("GET", "/jobs", { authorization: `Bearer ${TOKEN}` }));
  });

  test("the token is checked before the uuid: a malformed uuid without a token is a 401", async () => {
    for (const path of ["/jobs/not-a-uuid", "/jobs/not-a-uuid/details", "/jobs/not-a-uuid/outputs/x"]) {
      await expectUnauthorized(await request("GET", path));
      // ... and with the token, the same request is the 400 it deserves.
      expect((await request("GET", path, { "x-api-key": TOKEN })).status).toBe(400);
    }
  });

  test("the right token opens them", async () => {
    const list = await request("GET", "/jobs", { "x-api-key": TOKEN });
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ jobs: [] });
    const unknown = await request("GET", `/jobs/${UUID}`, { "x-api-key": TOKEN });
    expect(unknown.status).toBe(404);
  });
});

describe("public routes", () => {
  test.each([
    "/",
    "/health",
    "/processes",
    "/processes/",
    "/processes/sleep",
    "/docs",
    "/redoc",
    "/openapi.json",
  ])("GET %s answers 200 without a token", async (path) => {
    const res = await fetch(`${d.url}${path}`);
    expect(res.status).toBe(200);
  });

  test("GET / is the original's plain-text welcome with the package version", async () => {
    const res = await fetch(`${d.url}/`);
    expect(res.headers.get("content-type")).toStartWith("text/plain");
    expect(await res.text()).toBe(`Welcome to PiXYZ API v${pkg.version}!`);
  });

  test("GET /health says ok and the version", async () => {
    const body = (await (await fetch(`${d.url}/health`)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: "ok", version: pkg.version });
  });
});

describe("the configured token hash", () => {
  test("an uppercase GOD_PASSWORD_SHA256 works", async () => {
    const upper = await startTestDaemon({ GOD_PASSWORD_SHA256: TOKEN_SHA256.toUpperCase() });
    try {
      expect((await upper.api("/jobs")).status).toBe(200);
      await expectUnauthorized(await upper.api("/jobs", { headers: { "x-api-key": "wrong" }, auth: false }));
    } finally {
      await upper.close();
    }
  });
});

describe("without GOD_PASSWORD_SHA256: the generated token file", () => {
  test("is created with mode 0600, its token works, and a restart on the same data reuses it", async () => {
    const dataDir = tempDir();
    const first = await startTestDaemon({ GOD_PASSWORD_SHA256: "" }, dataDir);
    const tokenFile = join(dataDir, "api-token");
    let token: string;
    try {
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      token = readFileSync(tokenFile, "utf8").trim();
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect(createHash("sha256").update(token).digest("hex")).not.toBe(TOKEN_SHA256);
      // The test token is not the one: only the file's token opens /jobs.
      await expectUnauthorized(await first.api("/jobs"));
      expect((await first.api("/jobs", { auth: false, headers: { "x-api-key": token } })).status).toBe(200);
    } finally {
      await first.close({ keepData: true });
    }

    const second = await startTestDaemon({ GOD_PASSWORD_SHA256: "" }, dataDir);
    try {
      expect(readFileSync(tokenFile, "utf8").trim()).toBe(token);
      expect((await second.api("/jobs", { auth: false, headers: { "x-api-key": token } })).status).toBe(200);
    } finally {
      await second.close();
    }
  });

  test("two data folders get two different tokens", async () => {
    const a = await startTestDaemon({ GOD_PASSWORD_SHA256: "" });
    const b = await startTestDaemon({ GOD_PASSWORD_SHA256: "" });
    try {
      const tokenA = readFileSync(join(a.dataDir, "api-token"), "utf8").trim();
      const tokenB = readFileSync(join(b.dataDir, "api-token"), "utf8").trim();
      expect(tokenA).not.toBe(tokenB);
      await expectUnauthorized(await b.api("/jobs", { auth: false, headers: { "x-api-key": tokenA } }));
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("with GOD_PASSWORD_SHA256 set, no token file is written", async () => {
    expect(() => statSync(join(d.dataDir, "api-token"))).toThrow();
  });
});

describe("/openapi.json", () => {
  let doc: Record<string, unknown>;
  beforeAll(async () => {
    const res = await fetch(`${d.url}/openapi.json`);
    expect(res.headers.get("content-type")).toContain("application/json");
    doc = (await res.json()) as Record<string, unknown>;
  });

  test("is OpenAPI 3.1.0 with the package version", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect((doc.info as Record<string, unknown>).version).toBe(pkg.version);
  });

  test("documents the original's routes", () => {
    const paths = doc.paths as Record<string, Record<string, unknown>>;
    for (const path of [
      "/jobs",
      "/jobs/{uuid}",
      "/jobs/{uuid}/details",
      "/jobs/{uuid}/outputs",
      "/jobs/{uuid}/outputs/{path}",
      "/processes",
      "/processes/{name}",
    ]) {
      expect(Object.keys(paths)).toContain(path);
    }
    expect(Object.keys(paths["/jobs"]!).sort()).toEqual(["get", "post"]);
  });

  test("declares the ApiKey scheme (x-api-key header) and uses it on the job routes only", () => {
    const components = doc.components as { securitySchemes: Record<string, unknown> };
    expect(components.securitySchemes.ApiKey).toEqual({ type: "apiKey", in: "header", name: "x-api-key" });
    const paths = doc.paths as Record<string, Record<string, { security?: unknown }>>;
    expect(paths["/jobs"]!.post!.security).toEqual([{ ApiKey: [] }]);
    expect(paths["/jobs/{uuid}/outputs/{path}"]!.get!.security).toEqual([{ ApiKey: [] }]);
    expect(paths["/processes"]!.get!.security).toBeUndefined();
  });
});

describe("/docs and /redoc work offline", () => {
  test.each(["/docs", "/redoc"])("%s references only local assets, and they load", async (page) => {
    const res = await fetch(`${d.url}${page}`);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(1);
    for (const asset of assets) {
      expect(asset).toStartWith("/");
      const loaded = await fetch(`${d.url}${asset}`);
      expect(loaded.status).toBe(200);
      expect(loaded.headers.get("content-type")).toMatch(/^text\/(javascript|css)/);
      expect((await loaded.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  test("the pages point at this daemon's /openapi.json", async () => {
    expect(await (await fetch(`${d.url}/docs`)).text()).toContain('url: "/openapi.json"');
    expect(await (await fetch(`${d.url}/redoc`)).text()).toContain('spec-url="/openapi.json"');
  });
});
