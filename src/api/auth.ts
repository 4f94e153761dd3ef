// x-api-key authentication, as the original: the server keeps only the SHA-256 of the token.
// The comparison is on fixed-length digests with timingSafeEqual, so it takes the same time
// whatever the token, and an uppercase configured hash works too (the original's did not).
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";

export function tokenMatches(token: string, expectedSha256Hex: string): boolean {
  const expected = Buffer.from(expectedSha256Hex.toLowerCase(), "hex");
  const actual = createHash("sha256").update(token, "utf8").digest();
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}

export function requireApiKey(expectedSha256Hex: string): MiddlewareHandler {
  return async (c, next) => {
    const token = c.req.header("x-api-key");
    if (token === undefined || !tokenMatches(token, expectedSha256Hex)) {
      c.header("WWW-Authenticate", "x-api-key");
      return c.json({ detail: "Invalid token" }, 401);
    }
    await next();
  };
}
