// Dashboard sessions: signing in with the API token gives the browser a random session id in an
// HttpOnly, SameSite=Strict cookie, so the page's script never holds the token (not in a URL, not
// in local storage). Sessions live in this process only: a restart signs everyone out.
//
// Only the SHA-256 of an id is kept, and a lookup is by that digest: the time a lookup takes says
// nothing about how much of a guessed id was right, and the ids themselves are never stored or
// logged. A session ends at its expiry (absolute, SESSION_TTL_MS after sign-in), on sign-out, or
// when it is the oldest of more than MAX_SESSIONS.
import { createHash, randomBytes } from "node:crypto";

export const SESSION_COOKIE = "pixyz_session";
/**
 * A request that changes state with the session cookie (not x-api-key) must carry this header. A
 * page on another origin cannot send a custom header without a CORS preflight, which the daemon
 * never grants for it (CORS_ORIGINS allows x-api-key, content-type and range only); with the cookie's
 * SameSite=Strict that makes cross-site request forgery impossible.
 */
export const CSRF_HEADER = "x-pixyz-csrf";
export const SESSION_TTL_MS = 12 * 3600 * 1000;
const MAX_SESSIONS = 1000;

const digest = (id: string) => createHash("sha256").update(id, "utf8").digest("base64url");

export class Sessions {
  /** digest of the id -> expiry (ms since the epoch); insertion order is age order. */
  private readonly live = new Map<string, number>();

  constructor(
    readonly ttlMs = SESSION_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session: its id (256 random bits) goes into the cookie and nowhere else. */
  create(): { id: string; expiresAt: number } {
    this.prune();
    while (this.live.size >= MAX_SESSIONS) {
      const oldest = this.live.keys().next().value;
      if (oldest === undefined) break;
      this.live.delete(oldest);
    }
    const id = randomBytes(32).toString("base64url");
    const expiresAt = this.now() + this.ttlMs;
    this.live.set(digest(id), expiresAt);
    return { id, expiresAt };
  }

  /** The session's expiry when `id` is a live session, else null. */
  expiry(id: string | undefined): number | null {
    if (!id || id.length > 128) return null;
    const key = digest(id);
    const expiresAt = this.live.get(key);
    if (expiresAt === undefined) return null;
    if (expiresAt <= this.now()) {
      this.live.delete(key);
      return null;
    }
    return expiresAt;
  }

  end(id: string | undefined): void {
    if (id && id.length <= 128) this.live.delete(digest(id));
  }

  get size(): number {
    return this.live.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [key, expiresAt] of this.live) if (expiresAt <= now) this.live.delete(key);
  }
}
