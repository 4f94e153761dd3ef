// The dashboard: its page and assets at /ui (bundled into the binary by scripts/gen-ui.ts, served
// from memory, gzipped once), and its sessions (/ui/session: sign in with the API token, sign out).
// Every /ui/... path answers the same page; the page's script routes in the browser and reads the
// API with the session cookie. `registerDashboard` also adds the API routes the dashboard reads:
// the jobs search, retry and the numbers of the last hour.
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { uiAssets } from "../../generated/ui-assets.ts";
import { tokenMatches } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { envelope } from "../errors.ts";
import { CSRF_HEADER, SESSION_COOKIE, type Sessions } from "../sessions.ts";
import { registerJobSearch } from "./job-search.ts";
import { registerRetryRoute } from "./retry.ts";
import { registerStatsRoute } from "./stats.ts";

const ASSET_PREFIX = "/ui/assets/";
/** The jobs list's first request, as src/ui/pages/jobs.ts builds it with no filter. */
const FIRST_JOBS_PAGE = "/jobs/search?limit=50";

/**
 * The page: no inline script or style, so the CSP below forbids both. `data-session` tells the
 * script whether the request came with a live session, so it needs no round trip to know; for the
 * jobs list the first page is preloaded (the same URL the script asks for, with the same
 * credentials mode) while the script loads.
 */
function page(signedIn: boolean, preloadJobs: boolean): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>pixyz-scheduler</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ASSET_PREFIX}${uiAssets.css}">
<script type="module" src="${ASSET_PREFIX}${uiAssets.entry}"></script>
${preloadJobs ? `<link rel="preload" as="fetch" crossorigin="anonymous" href="${FIRST_JOBS_PAGE}">\n` : ""}</head><body data-session="${signedIn ? "1" : "0"}"><div id="app"></div></body></html>`;
}

const SECURITY_HEADERS = {
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
};

/** A file of the dashboard; its bytes and their gzip are made on its first request, then kept. */
interface Asset {
  type: string;
  text: string;
  raw: Uint8Array<ArrayBuffer> | null;
  gzip: Uint8Array<ArrayBuffer> | null;
}

const encoder = new TextEncoder();
const ASSETS = new Map<string, Asset>(
  Object.entries(uiAssets.files).map(([name, text]) => [
    `${ASSET_PREFIX}${name}`,
    {
      type: name.endsWith(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8",
      text,
      raw: null,
      gzip: null,
    },
  ]),
);

function serveAsset(c: Context, asset: Asset): Response {
  const headers: Record<string, string> = {
    "Content-Type": asset.type,
    // The name carries the content's hash: a new build is a new name.
    "Cache-Control": "public, max-age=31536000, immutable",
    Vary: "Accept-Encoding",
    "X-Content-Type-Options": "nosniff",
  };
  asset.raw ??= encoder.encode(asset.text);
  if (/\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
    asset.gzip ??= Bun.gzipSync(asset.raw, { level: 9 });
    return new Response(asset.gzip, { headers: { ...headers, "Content-Encoding": "gzip" } });
  }
  return new Response(asset.raw, { headers });
}

/** Whether the request reached the daemon over HTTPS (directly or through a proxy that says so). */
function overHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";
}

/** The body as text, or null once it passes `limit` bytes (read no further: a sign-in is small). */
async function readSmall(request: Request, limit: number): Promise<string | null> {
  if (Number(request.headers.get("content-length") ?? "0") > limit) return null;
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

const unauthorized = (c: Context) => {
  c.header("WWW-Authenticate", "x-api-key");
  return c.json({ detail: "Invalid token" }, 401);
};
const csrfRefused = (c: Context) =>
  c.json(envelope(403, `The dashboard's requests carry the ${CSRF_HEADER}: 1 header; this one did not`), 403);

export function registerUiRoutes(app: OpenAPIHono, deps: ApiDeps, sessions: Sessions): void {
  const shell = (c: Context) => {
    const signedIn = sessions.expiry(getCookie(c, SESSION_COOKIE)) !== null;
    const jobsList = /^\/ui(\/jobs)?\/?$/.test(c.req.path) && new URL(c.req.url).search === "";
    return c.html(page(signedIn, signedIn && jobsList), 200, {
      ...SECURITY_HEADERS,
      "Cache-Control": "no-store",
    });
  };
  app.get("/ui/assets/:file", (c) => {
    const asset = ASSETS.get(c.req.path);
    return asset ? serveAsset(c, asset) : c.json(envelope(404, `No asset ${c.req.path}`), 404);
  });

  app.get("/ui/session", (c) => {
    const expiresAt = sessions.expiry(getCookie(c, SESSION_COOKIE));
    c.header("Cache-Control", "no-store");
    return c.json({
      signed_in: expiresAt !== null,
      expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString(),
    });
  });

  // Sign in: {"token": "..."} as JSON, with the CSRF header (a page elsewhere cannot sign a
  // browser into this daemon either).
  app.post("/ui/session", async (c) => {
    if (c.req.header(CSRF_HEADER) !== "1") return csrfRefused(c);
    const body = await readSmall(c.req.raw, 4096);
    let token: unknown;
    try {
      if (body === null) throw new Error("too large");
      token = (JSON.parse(body) as { token?: unknown } | null)?.token;
    } catch {
      return c.json(envelope(400, 'Send {"token": "<the API token>"} as JSON, at most 4 KB'), 400);
    }
    if (typeof token !== "string" || token === "" || !tokenMatches(token, deps.tokenSha256)) {
      return unauthorized(c);
    }
    const session = sessions.create();
    setCookie(c, SESSION_COOKIE, session.id, {
      httpOnly: true,
      sameSite: "Strict",
      path: "/",
      maxAge: Math.floor(sessions.ttlMs / 1000),
      secure: overHttps(c),
    });
    deps.logger.info("dashboard session started", { sessions: sessions.size });
    c.header("Cache-Control", "no-store");
    return c.json({ signed_in: true, expires_at: new Date(session.expiresAt).toISOString() });
  });

  app.delete("/ui/session", (c) => {
    if (c.req.header(CSRF_HEADER) !== "1") return csrfRefused(c);
    sessions.end(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "Strict", secure: overHttps(c) });
    return c.body(null, 204);
  });

  app.get("/ui", shell);
  app.get("/ui/*", shell);
}

/** The dashboard and the API routes it reads that the original did not have. */
export function registerDashboard(app: OpenAPIHono, deps: ApiDeps, sessions: Sessions): void {
  registerJobSearch(app, deps);
  registerRetryRoute(app, deps);
  registerStatsRoute(app, deps);
  registerUiRoutes(app, deps, sessions);
}
