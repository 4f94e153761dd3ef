// Peer requests are signed with the shared PEER_SECRET: an HMAC-SHA256 over the method, the path
// (with its query), a timestamp, a random nonce, the body's SHA-256 and the sender's node id. The receiver checks
// it in constant time, refuses a timestamp outside a short window and a signature it has already
// seen (a replay), so a captured request cannot be sent again. Client tokens are never accepted
// here, and the peer secret is never accepted on client routes (they only know x-api-key).
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const HEADERS = {
  node: "x-pxs-node",
  time: "x-pxs-time",
  nonce: "x-pxs-nonce",
  body: "x-pxs-body-sha256",
  signature: "x-pxs-signature",
} as const;

/** How far a request's timestamp may be from the receiver's clock. */
export const CLOCK_WINDOW_MS = 30_000;

export const sha256Hex = (data: string | Uint8Array): string =>
  createHash("sha256").update(data).digest("hex");

function mac(secret: string, parts: string[]): Buffer {
  return createHmac("sha256", secret).update(parts.join("\n")).digest();
}

/** The headers that sign a request; `bodySha256` is the hex SHA-256 of the exact body bytes. */
export function signRequest(
  secret: string,
  request: { method: string; pathAndQuery: string; bodySha256: string; node: string; now: number },
): Record<string, string> {
  const time = String(request.now);
  // Two identical requests in the same millisecond still get two signatures (neither is a replay).
  const nonce = randomBytes(12).toString("hex");
  const parts = [
    request.method.toUpperCase(),
    request.pathAndQuery,
    time,
    nonce,
    request.bodySha256,
    request.node,
  ];
  const signature = mac(secret, parts);
  return {
    [HEADERS.node]: request.node,
    [HEADERS.time]: time,
    [HEADERS.nonce]: nonce,
    [HEADERS.body]: request.bodySha256,
    [HEADERS.signature]: signature.toString("hex"),
  };
}

export type Verdict = { ok: true; node: string; bodySha256: string } | { ok: false; reason: string };

/**
 * Checks a signed request's headers (the body's digest is checked by the caller against the body it
 * reads). Remembers each accepted signature until it leaves the clock window: a replay is refused.
 */
export class SignatureChecker {
  private readonly seen = new Map<string, number>();

  constructor(private readonly secret: string) {}

  check(method: string, pathAndQuery: string, headers: Headers, now: number): Verdict {
    const node = headers.get(HEADERS.node);
    const time = headers.get(HEADERS.time);
    const body = headers.get(HEADERS.body);
    const given = headers.get(HEADERS.signature);
    const nonce = headers.get(HEADERS.nonce);
    if (!node || !time || !body || !given || !nonce)
      return { ok: false, reason: "the request is not signed" };
    if (!/^\d{1,16}$/.test(time) || Math.abs(now - Number(time)) > CLOCK_WINDOW_MS) {
      return { ok: false, reason: "the request's time is outside the clock window (check the clocks)" };
    }
    if (!/^[0-9a-f]{64}$/.test(given) || !/^[0-9a-f]{64}$/.test(body)) {
      return { ok: false, reason: "the signature is malformed" };
    }
    const expected = mac(this.secret, [method.toUpperCase(), pathAndQuery, time, nonce, body, node]);
    if (!timingSafeEqual(expected, Buffer.from(given, "hex"))) return { ok: false, reason: "bad signature" };
    this.forgetOld(now);
    if (this.seen.has(given)) return { ok: false, reason: "replayed signature" };
    this.seen.set(given, Number(time) + CLOCK_WINDOW_MS);
    return { ok: true, node, bodySha256: body };
  }

  private forgetOld(now: number): void {
    for (const [signature, until] of this.seen) if (until < now) this.seen.delete(signature);
  }
}
