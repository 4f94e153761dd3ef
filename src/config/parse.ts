// Parsers for raw setting strings. Each throws a ConfigError that names the setting and says
// what a valid value looks like, so a bad value stops the daemon with one clear line.

import { Cron } from "croner";

export class ConfigError extends Error {}

type Raw = string | undefined;

const bad = (name: string, expected: string, got: string) =>
  new ConfigError(`invalid ${name}: expected ${expected}, got '${got}'`);

export function int(name: string, raw: Raw, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const text = raw.trim();
  if (!/^-?\d+$/.test(text)) throw bad(name, `an integer from ${min} to ${max}`, raw);
  const value = Number(text);
  if (value < min || value > max) throw bad(name, `an integer from ${min} to ${max}`, raw);
  return value;
}

export function bool(name: string, raw: Raw, fallback: boolean): boolean {
  if (raw === undefined || raw.trim() === "") return fallback;
  const text = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(text)) return true;
  if (["0", "false", "no", "off"].includes(text)) return false;
  throw bad(name, "true or false", raw);
}

export function oneOf<T extends string>(name: string, raw: Raw, fallback: T, values: readonly T[]): T {
  if (raw === undefined || raw.trim() === "") return fallback;
  const text = raw.trim().toLowerCase();
  if (!(values as readonly string[]).includes(text)) throw bad(name, `one of ${values.join(", ")}`, raw);
  return text as T;
}

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * A byte size: `1048576`, `512M`, `10G` (binary units; a trailing `B`/`iB` is allowed). Zero is
 * refused unless `allowZero` (for settings where 0 means "off").
 */
export function bytes(name: string, raw: Raw, fallback: number, allowZero = false): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(raw.trim());
  if (!match) throw bad(name, "a size such as 1048576, 512M or 10G", raw);
  const value = Number(match[1]) * UNITS[match[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(value) || value < 0 || (value === 0 && !allowZero)) {
    throw bad(name, allowZero ? "a size (0 to turn it off)" : "a positive size", raw);
  }
  return value;
}

/** A croner pattern (5 fields, or 6 with seconds first); refused with croner's own reason. */
export function cronPattern(name: string, raw: Raw, fallback: string): string {
  const pattern = raw === undefined || raw.trim() === "" ? fallback : raw.trim();
  try {
    new Cron(pattern, { paused: true }).stop();
  } catch (error) {
    throw bad(name, `a cron pattern such as "0 */10 * * * *" (${(error as Error).message})`, pattern);
  }
  return pattern;
}

export function sha256Hex(name: string, raw: Raw): string | null {
  if (raw === undefined || raw.trim() === "") return null;
  const text = raw.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new ConfigError(
      `invalid ${name}: expected the 64-character hex SHA-256 of the API token (see 'pixyz-scheduler hash-password'), got a value of ${raw.trim().length} characters`,
    );
  }
  return text;
}

export const QUEUE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

/** `cpu:4,gpu:1,gpuhigh:0`: exactly these slots. */
export function slots(name: string, raw: Raw): Record<string, number> | null {
  if (raw === undefined || raw.trim() === "") return null;
  const result: Record<string, number> = {};
  for (const part of raw.split(",")) {
    const match = /^\s*([a-z][a-z0-9_-]{0,31})\s*:\s*(\d{1,3})\s*$/.exec(part);
    if (!match) throw bad(name, "a list like cpu:4,gpu:1,gpuhigh:0", raw);
    result[match[1]!] = Number(match[2]);
  }
  return result;
}

export function text(raw: Raw): string | null {
  return raw === undefined || raw.trim() === "" ? null : raw.trim();
}

/** `*`, or a comma-separated list of origins such as `http://dashboard.lan:8080`. */
export function corsOrigins(name: string, raw: Raw): string[] {
  if (raw === undefined || raw.trim() === "") return [];
  const origins = raw
    .split(",")
    .map((o) => o.trim())
    .filter((o) => o !== "");
  for (const origin of origins) {
    if (origin !== "*" && !/^https?:\/\/[^/\s]+$/.test(origin)) {
      throw bad(name, "* or origins like http://host:port separated by commas", raw);
    }
  }
  return origins;
}

/** Base URLs of peer daemons: `http://gpu-box:8001,https://other:8001` (no path, no trailing slash). */
export function peerUrls(name: string, raw: Raw): string[] {
  if (raw === undefined || raw.trim() === "") return [];
  const urls = raw
    .split(",")
    .map((u) => u.trim().replace(/\/+$/, ""))
    .filter((u) => u !== "");
  for (const url of urls) {
    if (!/^https?:\/\/[^/\s]+$/.test(url))
      throw bad(name, "base URLs like http://gpu-box:8001 separated by commas", raw);
  }
  return [...new Set(urls)];
}

/** A shared secret of at least 16 bytes; never echoed back (it is a secret). */
export function peerSecret(name: string, raw: Raw): string | null {
  if (raw === undefined || raw.trim() === "") return null;
  if (Buffer.byteLength(raw.trim()) < 16) {
    throw new ConfigError(
      `invalid ${name}: expected at least 16 bytes (e.g. 'openssl rand -hex 32'), got a value of ${Buffer.byteLength(raw.trim())} bytes`,
    );
  }
  return raw.trim();
}
