// HTTPS (TLS_CERT, TLS_KEY): the API over TLS, and two daemons federating over TLS with a
// certificate they trust through NODE_EXTRA_CA_CERTS. The certificate is made by openssl here.

import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../src/config/config.ts";
import { ConfigError } from "../src/config/parse.ts";
import { FROM_SOURCE } from "./helpers/cli.ts";
import { TOKEN, TOKEN_SHA256, tempDir } from "./helpers/daemon.ts";
import { freePort } from "./helpers/serve-process.ts";

const work = tempDir("pxs-tls-");
afterAll(() => rmSync(work, { recursive: true, force: true }));
const haveOpenssl = Bun.which("openssl") !== null;
if (!haveOpenssl) console.log("TLS tests skipped: openssl is not installed");

const cert = join(work, "cert.pem");
const key = join(work, "key.pem");
if (haveOpenssl) {
  const made = Bun.spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
    ].concat(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]),
    { stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
}

const ROOT = join(import.meta.dir, "..");
const SECRET = "a-test-peer-secret-of-32-bytes!!";

/** A daemon in its own process (NODE_EXTRA_CA_CERTS is read at start). */
async function serveTls(name: string, env: Record<string, string>) {
  const port = freePort();
  const dataDir = join(work, name);
  const proc = Bun.spawn([...FROM_SOURCE, "serve", "--port", String(port), "--data-dir", dataDir], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      API_HOST: "127.0.0.1",
      GOD_PASSWORD_SHA256: TOKEN_SHA256,
      TLS_CERT: cert,
      TLS_KEY: key,
      NODE_EXTRA_CA_CERTS: cert,
      ...env,
    },
    stdio: ["ignore", "ignore", "ignore"],
  });
  const url = `https://127.0.0.1:${port}`;
  const ca = readFileSync(cert, "utf8");
  const api = (path: string) => fetch(`${url}${path}`, { headers: { "x-api-key": TOKEN }, tls: { ca } });
  for (let i = 0; i < 200; i++) {
    if (
      await api("/health").then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await Bun.sleep(50);
  }
  return { url, proc, api };
}

describe.skipIf(!haveOpenssl)("HTTPS", () => {
  test("TLS_CERT and TLS_KEY: the API answers over HTTPS to a client that trusts the certificate, and not over plain HTTP", async () => {
    const d = await serveTls("single", { SLOTS: "cpu:1" });
    try {
      const health = await d.api("/health");
      expect(health.status).toBe(200);
      expect(((await health.json()) as { status: string }).status).toMatch(/ok|degraded/);
      expect(
        await fetch(d.url.replace("https", "http")).then(
          () => "answered",
          () => "refused",
        ),
      ).toBe("refused");
      // A client that does not trust it is refused by its own TLS check.
      expect(
        await fetch(`${d.url}/health`).then(
          () => "trusted",
          () => "untrusted",
        ),
      ).toBe("untrusted");
    } finally {
      d.proc.kill();
    }
  }, 30000);

  test("two daemons federate over HTTPS", async () => {
    const b = await serveTls("b", {
      SLOTS: "gpu:1",
      PEER_SECRET: SECRET,
      NODE_NAME: "b",
      ADVERT_INTERVAL: "1",
    });
    const a = await serveTls("a", {
      SLOTS: "cpu:1",
      PEER_SECRET: SECRET,
      NODE_NAME: "a",
      ADVERT_INTERVAL: "1",
      PEERS: b.url,
    });
    try {
      let states: string[] = [];
      for (let i = 0; i < 100; i++) {
        const [fromA, fromB] = await Promise.all([a.api("/peers"), b.api("/peers")]);
        const view = async (r: Response) =>
          ((await r.json()) as { peers: { state: string; url: string }[] }).peers;
        states = [...(await view(fromA)), ...(await view(fromB))].map((p) => `${p.url} ${p.state}`);
        if (states.length === 2 && states.every((s) => s.endsWith("alive"))) break;
        await Bun.sleep(100);
      }
      expect(states.sort()).toEqual([`${a.url} alive`, `${b.url} alive`].sort());
    } finally {
      a.proc.kill();
      b.proc.kill();
    }
  }, 30000);

  test("TLS_CERT without TLS_KEY, or a file that cannot be read, stops the start naming the setting", () => {
    expect(() => loadConfig({ env: { TLS_CERT: cert } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { TLS_CERT: cert } })).toThrow(/set both/);
    expect(() => loadConfig({ env: { TLS_CERT: cert, TLS_KEY: join(work, "missing.pem") } })).toThrow(
      /TLS_KEY/,
    );
  });
});
