// /docs (Swagger UI) and /redoc (ReDoc) rendered by a real Chromium with the network cut off:
// every request that does not go to the daemon itself is blocked and recorded, so a page that
// needs a CDN (or phones home) fails here as it would on a LAN box with no internet.
// Needs Debian's chromium at /usr/bin/chromium (`apt-get install chromium`): .ci/run installs it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { networkInterfaces } from "node:os";
import type { Browser, Page } from "playwright-core";
import { haveChromium, launchChromium, requireChromium } from "./helpers/chromium.ts";
import { startTestDaemon, type TestDaemon } from "./helpers/daemon.ts";

requireChromium("docs pages");

interface Visit {
  page: Page;
  /** Requests that went somewhere other than the daemon, blocked. */
  blocked: string[];
  /** Uncaught exceptions in the page. */
  errors: string[];
}

describe.skipIf(!haveChromium)("docs pages in Chromium, offline", () => {
  let d: TestDaemon;
  let browser: Browser;
  let operations: number;
  beforeAll(async () => {
    d = await startTestDaemon();
    browser = await launchChromium();
    const spec = (await (await fetch(`${d.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    operations = Object.values(spec.paths).reduce((n, methods) => n + Object.keys(methods).length, 0);
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await d?.close();
  });

  /** Opens `url` in a fresh context where only `allowedHost` can be reached. */
  async function visit(url: string, allowedHost = "127.0.0.1"): Promise<Visit> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const blocked: string[] = [];
    const errors: string[] = [];
    await context.route("**/*", (route) => {
      const target = new URL(route.request().url());
      if (target.hostname === allowedHost) return route.continue();
      blocked.push(target.href);
      return route.abort("internetdisconnected");
    });
    page.on("pageerror", (error) => errors.push(String(error)));
    const res = await page.goto(url, { waitUntil: "load", timeout: 30_000 });
    expect(res?.status()).toBe(200);
    return { page, blocked, errors };
  }

  /** Swagger UI breaks long paths with zero-width spaces; compare the text without them. */
  const bodyText = (page: Page) =>
    page.evaluate(`(document.body.textContent ?? "").replace(/\\u200b/g, "")`) as Promise<string>;

  test("/docs: Swagger UI renders every operation, with no request leaving the machine", async () => {
    const { page, blocked, errors } = await visit(`${d.url}/docs`);
    await page.waitForSelector(".opblock", { timeout: 30_000 });
    await page.waitForFunction(`document.querySelectorAll(".opblock").length >= ${operations}`, undefined, {
      timeout: 30_000,
    });
    const text = await bodyText(page);
    expect(text).toContain("/jobs/{uuid}/details");
    expect(text).toContain("/jobs/{uuid}/outputs/{path}");
    expect(text).toContain("PiXYZ API");
    expect(await page.locator(".opblock").count()).toBe(operations);
    expect(await page.locator('[data-path="/jobs/{uuid}/details"]').first().isVisible()).toBe(true);
    // The API key can be entered (the security scheme made it into the page).
    expect(await page.locator(".btn.authorize").count()).toBeGreaterThan(0);
    // Let late requests (images, validator badge, fonts) happen before judging.
    await page.waitForLoadState("networkidle", { timeout: 30_000 });
    expect(blocked).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  }, 90_000);

  test("/redoc: ReDoc renders the API title and operations, with no other request leaving the machine", async () => {
    const { page, blocked, errors } = await visit(`${d.url}/redoc`);
    await page.waitForSelector("h1", { timeout: 30_000 });
    await page.waitForFunction(`document.body.textContent.includes("/jobs/{uuid}/details")`, undefined, {
      timeout: 30_000,
    });
    const title = page.locator("h1").first();
    expect(await title.isVisible()).toBe(true);
    expect(await title.textContent()).toContain("PiXYZ API");
    const text = await bodyText(page);
    expect(text).toContain("The state of a job with times, steps, retries, result and attempts");
    await page.waitForLoadState("networkidle", { timeout: 30_000 });
    // The one known leak is tracked by the test.todo below; anything else fails here.
    expect(blocked).toEqual([]);
    expect(errors).toEqual([]);
    await page.context().close();
  }, 90_000);

  // (The page scripts above are strings: this project's TypeScript has no DOM types.)

  // ReDoc 2.5.4's footer always loads the Redocly logo from a CDN; /redoc sends a CSP that keeps
  // images local, so nothing leaves the machine.
  test("/redoc makes no request at all outside the machine (the Redocly logo)", async () => {
    const { page, blocked } = await visit(`${d.url}/redoc`);
    await page.waitForSelector("h1", { timeout: 30_000 });
    await page.waitForLoadState("networkidle", { timeout: 30_000 });
    await page.context().close();
    expect(blocked).toEqual([]);
  });

  // Swagger UI's online-validator badge (StandaloneLayout) requests validator.swagger.io whenever the
  // page's address is not localhost/127.0.0.1, i.e. on every LAN box: check through a LAN address.
  const lanAddress = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
  test.skipIf(!lanAddress)(
    `/docs opened through a LAN address (${lanAddress}) makes no external request`,
    async () => {
      const lan = await startTestDaemon({ API_HOST: lanAddress! });
      try {
        const { page, blocked } = await visit(`${lan.url}/docs`, lanAddress!);
        await page.waitForSelector(".opblock", { timeout: 30_000 });
        await page.waitForLoadState("networkidle", { timeout: 30_000 });
        await page.context().close();
        expect(blocked).toEqual([]);
      } finally {
        await lan.close();
      }
    },
    90_000,
  );
});
