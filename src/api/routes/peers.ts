// GET /peers (for clients, with the token) and the federation routes under /federation/ (for peers,
// signed with PEER_SECRET; never with a client token). Without PEER_SECRET, GET /peers answers 404
// and no /federation/ route exists.
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ChildSpecError } from "../../daemon/child-jobs.ts";
import { type Finish, type Offer, RequestRefused, StaleAttempt } from "../../federation/delegation.ts";
import type { Federation } from "../../federation/federation.ts";
import type { Advert } from "../../federation/peers.ts";
import { SignatureChecker, sha256Hex } from "../../federation/signing.ts";
import type { ChildSpec } from "../../sdk/protocol.ts";
import { UnsafePathError } from "../../storage/safe-path.ts";
import { API_KEY } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { badRequest, envelope, notFound } from "../errors.ts";
import { errorResponses } from "../schemas.ts";
import { isoTime } from "../views.ts";

const PeerView = z
  .object({
    name: z.string().nullable(),
    node_id: z.string().nullable(),
    url: z.string(),
    state: z.enum(["alive", "suspect", "gone", "unknown"]),
    last_seen: z.string().nullable(),
    version: z.string().nullable(),
    draining: z.boolean(),
    queues: z.record(z.string(), z.object({ slots: z.number(), busy: z.number(), waiting: z.number() })),
    gpus: z.array(z.object({ model: z.string(), vram_mb: z.number() })),
    lost_adverts: z.number().int(),
    delegated_to: z.number().int(),
    delegated_from: z.number().int(),
  })
  .openapi("Peer");

/** The parts of an advert a peer must send, checked before it is believed. */
const AdvertBody = z.object({
  nodeId: z.string().min(1).max(64),
  bootId: z.string().min(1).max(64),
  seq: z.number().int().min(0),
  name: z.string().max(200),
  url: z.string().regex(/^https?:\/\/[^/\s]+$/),
  version: z.string().max(64),
  queues: z.record(
    z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
    z.object({
      slots: z.number().int().min(0),
      busy: z.number().int().min(0),
      waiting: z.number().int().min(0),
    }),
  ),
  gpus: z.array(z.object({ model: z.string().max(200), vram_mb: z.number().min(0) })).max(64),
  draining: z.boolean(),
  intervalMs: z.number().int().min(100).max(3_600_000),
});

export function registerPeerRoutes(app: OpenAPIHono, deps: ApiDeps): void {
  const federation = deps.federation ?? null;
  app.openapi(
    createRoute({
      method: "get",
      path: "/peers",
      tags: ["federation"],
      summary: "The peer daemons this one knows: state, last advert, queues, GPUs, jobs delegated each way",
      description: "404 when federation is off (no PEER_SECRET). See docs/federation.md.",
      security: API_KEY,
      responses: {
        200: {
          description: "The peers",
          content: {
            "application/json": {
              schema: z.object({
                self: z.object({ name: z.string(), node_id: z.string(), url: z.string() }),
                peers: z.array(PeerView),
              }),
            },
          },
        },
        ...errorResponses,
      },
    }),
    (c) => {
      if (!federation)
        throw notFound("Federation is off on this daemon: set PEER_SECRET (and PEERS) to join peers");
      const { settings } = federation;
      const peers = federation.peers().map((p) => ({
        name: p.advert?.name ?? null,
        node_id: p.advert?.nodeId ?? null,
        url: p.url,
        state: p.state as "alive" | "suspect" | "gone" | "unknown",
        last_seen: p.lastSeen === null ? null : isoTime(p.lastSeen),
        version: p.advert?.version ?? null,
        draining: p.advert?.draining ?? false,
        queues: p.advert?.queues ?? {},
        gpus: p.advert?.gpus ?? [],
        lost_adverts: p.lostAdverts,
        delegated_to: p.delegatedTo,
        delegated_from: p.delegatedFrom,
      }));
      return c.json(
        { self: { name: settings.nodeName, node_id: settings.nodeId, url: settings.url }, peers },
        200,
      );
    },
  );
  if (federation) registerSignedRoutes(app, federation);
}

/** The routes peers call: every request signed (HMAC, clock window, no replay), its body checked. */
function registerSignedRoutes(app: OpenAPIHono, federation: Federation): void {
  const checker = new SignatureChecker(federation.settings.secret);
  app.use("/federation/*", async (c, next) => {
    const url = new URL(c.req.url);
    const verdict = checker.check(c.req.method, url.pathname + url.search, c.req.raw.headers, Date.now());
    if (!verdict.ok) return c.json(envelope(401, `Peer request refused: ${verdict.reason}`), 401);
    // A PUT is a file, streamed to disk by its route, which checks it against the signed digest.
    if (c.req.method !== "PUT") {
      const body = new Uint8Array(await c.req.arrayBuffer());
      if (sha256Hex(body) !== verdict.bodySha256) {
        return c.json(envelope(401, "Peer request refused: the body does not match its signature"), 401);
      }
    }
    c.set("peerNode" as never, verdict.node as never);
    c.set("peerBodySha256" as never, verdict.bodySha256 as never);
    await next();
  });
  const peerOf = (c: Context) => c.get("peerNode" as never) as string;
  // A report for an attempt that is not (or no longer) the peer's: 409, and the peer drops the job.
  const fenced = async (c: Context, work: () => unknown): Promise<Response> => {
    try {
      const value = await work();
      if (value instanceof Response) return value;
      return value === undefined ? c.body(null, 204) : c.json(value as object, 200);
    } catch (error) {
      if (error instanceof StaleAttempt) return c.json(envelope(409, error.message), 409);
      if (
        error instanceof UnsafePathError ||
        error instanceof RequestRefused ||
        error instanceof ChildSpecError
      ) {
        throw badRequest(error.message);
      }
      throw error;
    }
  };
  const { delegator, executions } = federation;
  const attemptOf = (c: Context) => {
    const n = Number(c.req.param("n"));
    if (!Number.isInteger(n) || n < 1) throw badRequest("the attempt must be a number from 1");
    return n;
  };

  app.post("/federation/offers", async (c) => {
    const offer = (await c.req.json().catch(() => null)) as Offer | null;
    if (!offer?.uuid || !offer.job || !offer.origin) throw badRequest("Invalid offer");
    const answer = executions.accept(offer, peerOf(c));
    return answer.accepted ? c.json(answer, 200) : c.json(envelope(409, answer.reason), 409);
  });
  app.post("/federation/jobs/:uuid/cancel", async (c) => {
    const { attempt } = (await c.req.json().catch(() => ({}))) as { attempt?: number };
    const dropped = executions.cancel(peerOf(c), c.req.param("uuid"), Number(attempt));
    return c.json({ dropped }, 200);
  });
  app.get("/federation/jobs/:uuid/files", (c) =>
    fenced(c, () => delegator.files(c.req.param("uuid"), peerOf(c))),
  );
  app.get("/federation/jobs/:uuid/files/:path{.+}", (c) =>
    fenced(
      c,
      () => new Response(Bun.file(delegator.filePath(c.req.param("uuid"), peerOf(c), c.req.param("path")))),
    ),
  );
  app.post("/federation/jobs/:uuid/attempts/:n/renew", (c) =>
    fenced(c, () => ({ leaseExpiresAt: delegator.renew(c.req.param("uuid"), attemptOf(c), peerOf(c)) })),
  );
  app.post("/federation/jobs/:uuid/attempts/:n/progress", async (c) => {
    const report = (await c.req.json()) as { progress: number; total: number; stepsJson: string };
    return fenced(c, () => delegator.progress(c.req.param("uuid"), attemptOf(c), peerOf(c), report));
  });
  app.post("/federation/jobs/:uuid/attempts/:n/log", async (c) => {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    return fenced(c, () => delegator.log(c.req.param("uuid"), attemptOf(c), peerOf(c), bytes));
  });
  app.put("/federation/jobs/:uuid/attempts/:n/outputs/:path{.+}", (c) =>
    fenced(c, async () => {
      const sha = c.get("peerBodySha256" as never) as string;
      const size = await delegator.output(
        c.req.param("uuid"),
        attemptOf(c),
        peerOf(c),
        c.req.param("path"),
        c.req.raw.body,
        sha,
      );
      return { size };
    }),
  );
  app.post("/federation/jobs/:uuid/attempts/:n/spawn", async (c) => {
    const { seq, spec } = (await c.req.json()) as { seq: number; spec: ChildSpec };
    return fenced(c, async () => ({
      uuid: await delegator.spawn(c.req.param("uuid"), attemptOf(c), peerOf(c), seq, spec),
    }));
  });
  app.post("/federation/jobs/:uuid/attempts/:n/wait", async (c) => {
    const { ids, timeoutMs } = (await c.req.json()) as { ids: string[]; timeoutMs?: number };
    if (!Array.isArray(ids)) throw badRequest("ids: expected a list of job ids");
    return fenced(c, () => delegator.wait(c.req.param("uuid"), attemptOf(c), peerOf(c), ids, timeoutMs));
  });
  app.post("/federation/jobs/:uuid/attempts/:n/finish", async (c) => {
    const end = (await c.req.json()) as Finish;
    return fenced(c, async () => ({
      status: await delegator.finish(c.req.param("uuid"), attemptOf(c), peerOf(c), end),
    }));
  });

  app.post("/federation/advert", async (c) => {
    const parsed = AdvertBody.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success)
      throw badRequest(`Invalid advert: ${parsed.error.issues[0]?.message ?? "bad shape"}`);
    const advert = parsed.data as Advert;
    if (advert.nodeId !== (c.get("peerNode" as never) as string)) {
      throw badRequest("The advert's nodeId is not the node that signed it");
    }
    federation.receive(advert);
    return c.body(null, 204);
  });
}
