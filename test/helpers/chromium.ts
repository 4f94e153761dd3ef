// Debian's Chromium for the browser tests (driven by playwright-core): where it is, how it is
// started (headless, offline, no first-run noise), and what a suite does when it is missing: under
// CI a failing test saying how to install it (.ci/run installs it), elsewhere a skip saying so.

import { test } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-quic",
  "--disable-sync",
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
}

/** Registers the missing-Chromium test (CI) or skip (elsewhere) for the suite named `what`. */
export function requireChromium(what: string): void {
  if (haveChromium) return;
  if (process.env.CI) {
    test(`Chromium is installed for the ${what} tests`, () => {
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium (apt-get update && apt-get install -y chromium); .ci/run does this`,
      );
    });
  } else {
    test.skip(`${what} in Chromium: skipped, ${CHROMIUM} is missing (apt-get install -y chromium)`, () => {});
  }
}
