// x-api-key authentication, as the original: the server keeps only the SHA-256 of the token.
// The comparison is on fixed-length digests with timingSafeEqual, so it takes the same time
// whatever the token, and an uppercase configured hash works too (the original's did not).
//
// Which routes need the token has one source: each route's own OpenAPI declaration
// (`security: API_KEY`). The middleware reads the declarations, so a route documented as protected
// is protected, and one that is not documented cannot be (test/auth.test.ts checks both ways).
//
// The dashboard's session cookie (api/sessions.ts) opens the same routes, under the same 401
// rules: a request with x-api-key is judged by the key alone; one without it needs a live session,
// and for anything but GET and HEAD also the CSRF header (403 without it).
import { createHash, timingSafeEqual } from "node:crypto";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { envelope } from "./errors.ts";
import { CSRF_HEADER, SESSION_COOKIE, type Sessions } from "./sessions.ts";

/** The `security` of every route that needs the token. */
export const API_KEY = [{ ApiKey: [] }];

export function tokenMatches(token: string, expectedSha256Hex: string): boolean {
  const expected = Buffer.from(expectedSha256Hex.toLowerCase(), "hex");
  const actual = createHash("sha256").update(token, "utf8").digest();
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}

export function requireApiKey(expectedSha256Hex: string, sessions?: Sessions): MiddlewareHandler {
  return async (c, next) => {
    const token = c.req.header("x-api-key");
    if (token === undefined && sessions?.expiry(getCookie(c, SESSION_COOKIE)) != null) {
      const safe = c.req.method === "GET" || c.req.method === "HEAD";
      if (!safe && c.req.header(CSRF_HEADER) !== "1") {
        return c.json(
          envelope(403, `A signed-in request that changes state needs the ${CSRF_HEADER}: 1 header`),
          403,
        );
      }
      return next();
    }
    if (token === undefined || !tokenMatches(token, expectedSha256Hex)) {
      c.header("WWW-Authenticate", "x-api-key");
      return c.json({ detail: "Invalid token" }, 401);
    }
    await next();
  };
}

interface Rule {
  method: string;
  pattern: RegExp;
}

/**
 * An OpenAPI path template as a matcher of request paths: `{name}` is one segment, except a last
 * `{path}` (a file path inside the outputs), which may hold several; a trailing slash is allowed.
 */
function templatePattern(template: string): RegExp {
  const parts = template.split(/(\{[^}]+\})/).filter((p) => p !== "");
  const source = parts
    .map((part, i) => {
      if (!part.startsWith("{")) return part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
      return i === parts.length - 1 && part === "{path}" ? ".+" : "[^/]+";
    })
    .join("");
  return new RegExp(`^${source}/?$`);
}

/** The routes whose declaration asks for the token. */
export function protectedRoutes(registry: OpenAPIHono["openAPIRegistry"]): Rule[] {
  const rules: Rule[] = [];
  for (const definition of registry.definitions) {
    if (definition.type !== "route" || !definition.route.security?.length) continue;
    rules.push({
      method: definition.route.method.toUpperCase(),
      pattern: templatePattern(definition.route.path),
    });
  }
  return rules;
}

/**
 * Requires the token on every route declared with `security: API_KEY`. The declarations are read at
 * the first request, once every route is registered.
 */
export function apiKeyWhereDeclared(
  registry: OpenAPIHono["openAPIRegistry"],
  expectedSha256Hex: string,
  sessions?: Sessions,
): MiddlewareHandler {
  const check = requireApiKey(expectedSha256Hex, sessions);
  let rules: Rule[] | null = null;
  return async (c, next) => {
    rules ??= protectedRoutes(registry);
    // HEAD runs the GET route.
    const method = c.req.method === "HEAD" ? "GET" : c.req.method;
    const path = c.req.path;
    if (rules.some((rule) => rule.method === method && rule.pattern.test(path))) return check(c, next);
    await next();
  };
}
