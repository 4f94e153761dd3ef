// Fault suite (npm run test:faults): well over 1,000 malformed requests, generated from the
// daemon's own GET /openapi.json (every path and method in it), sent byte for byte over raw TCP
// (fetch would resolve `..` and re-encode): wrong types in every parameter and form field, JSON
// nested 10,000 deep, huge numbers and 1e999, truncated and lying multipart bodies, wrong content
// types, traversal in every path parameter, each with and without the token. No answer may be a
// 5xx, the daemon must still answer /health, nothing may be written outside its data folder, and
// no answer may carry a file from outside a job's outputs. FAULT_DEBUG=1 prints each request's answer.

import { afterEach, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { FROM_SOURCE } from "../helpers/cli.ts";
import { scriptFile, stagedUploads, TOKEN, tempDir } from "../helpers/daemon.ts";
import { eventually } from "../helpers/procs.ts";
import { rawRequest } from "../helpers/raw-http.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve-process.ts";

const ROOT = join(import.meta.dir, "../..");
const IN_FLIGHT = 8;

const processes: ServeProcess[] = [];
afterEach(() => {
  for (const p of processes.splice(0)) p.proc.kill("SIGKILL");
});

interface Case {
  label: string;
  bytes: Uint8Array;
  /** Send a FIN after the request (a body that ends before its Content-Length). */
  halfClose?: boolean;
}

const encoder = new TextEncoder();
const concat = (parts: (string | Uint8Array)[]) => {
  const list = parts.map((p) => (typeof p === "string" ? encoder.encode(p) : p));
  const out = new Uint8Array(list.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of list) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** One HTTP/1.1 request, exactly as given; Content-Length is added for a body unless `rawLength`. */
function httpRequest(
  method: string,
  target: string,
  headers: [string, string][],
  body?: Uint8Array,
  rawLength = false,
): Uint8Array {
  const lines = [`${method} ${target} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close"];
  for (const [k, v] of headers) lines.push(`${k}: ${v}`);
  if (body && !rawLength) lines.push(`Content-Length: ${body.length}`);
  return concat([`${lines.join("\r\n")}\r\n\r\n`, body ?? new Uint8Array()]);
}

interface Part {
  name: string;
  value: string | Uint8Array;
  filename?: string;
  /** Replaces the part's Content-Disposition line and type. */
  rawHeaders?: string;
}

const BOUNDARY = "pxsFaultBoundary7MA4YWxkTrZu0gW";
function multipart(parts: Part[], boundary = BOUNDARY): Uint8Array {
  const chunks: (string | Uint8Array)[] = [];
  for (const p of parts) {
    chunks.push(`--${boundary}\r\n`);
    if (p.rawHeaders !== undefined) chunks.push(p.rawHeaders);
    else if (p.filename !== undefined)
      chunks.push(
        `Content-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\nContent-Type: application/octet-stream\r\n`,
      );
    else chunks.push(`Content-Disposition: form-data; name="${p.name}"\r\n`);
    chunks.push("\r\n", p.value, "\r\n");
  }
  chunks.push(`--${boundary}--\r\n`);
  return concat(chunks);
}

const deepArray = (n: number) => "[".repeat(n) + "]".repeat(n);
const deepObject = (n: number) => `${'{"a":'.repeat(n)}1${"}".repeat(n)}`;

/** Wrong-typed and hostile values for a text value (form field, JSON field, query value). */
const TEXT_BAD = [
  "1",
  "-1",
  "0",
  "1.5",
  "1e999",
  "-1e999",
  "1e308",
  "9".repeat(400),
  "NaN",
  "Infinity",
  "true",
  "false",
  "null",
  "[]",
  "{}",
  "[1,2]",
  '"str"',
  "{",
  '{"a":',
  '{"a":1e999}',
  "[1,[2,1e999]]",
  '{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}',
  deepArray(10000),
  deepObject(10000),
  "\u0000",
  "a\u0000b",
  "../../etc/passwd",
  "%00",
  "\uFFFF\uFFFE",
  "💥".repeat(1000),
  "x".repeat(100000),
];

/** Hostile values for a path segment, as they appear in the request target (already encoded). */
function pathBad(evil: string): string[] {
  return [
    "..",
    ".",
    "...",
    "%2e",
    "%2e%2e",
    "%2E%2E",
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f",
    "%252e%252e%252fetc%252fpasswd",
    "..%252f..%252f..%252f..%252fcanary.txt",
    "../../../../canary.txt",
    "..%2f..%2f..%2f..%2fcanary.txt",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fcanary.txt",
    "..%5c..%5c..%5c..%5ccanary.txt",
    "..\\..\\..\\..\\canary.txt",
    "%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd",
    "..%00",
    "%00",
    "a%00b",
    "a%00.txt",
    "%2fetc%2fpasswd",
    "/etc/passwd",
    "%5c%5c127.0.0.1%5cshare",
    `${evil}%2f..%2f..%2f${evil}`,
    "-1",
    "0",
    "1e999",
    "9".repeat(400),
    "true",
    "null",
    "%7B%7D",
    "%5B%5D",
    "%20",
    "%ff%fe",
    "%F0%9F%92%A5",
    "%",
    "%zz",
    "%0d%0aX-Injected:%201",
    "a;b=c",
    "*",
    "x".repeat(300),
    "x".repeat(5000),
    "x".repeat(70000),
  ];
}

/** More for the output path parameter (`/jobs/{uuid}/outputs/{path}`), which may hold slashes. */
const OUTPUT_PATH_BAD = [
  "sub/../../../../../canary.txt",
  "sub%2f..%2f..%2f..%2f..%2f..%2fcanary.txt",
  "sub/%2e%2e/%2e%2e/job.log",
  "../job.log",
  "..%2fjob.log",
  "%2e%2e%2fjob.log",
  "%252e%252e%252fjob.log",
  "../script/script.ts",
  "./a.txt",
  "sub//b.txt",
  "sub/./b.txt",
  "sub/b.txt%00.png",
  "a.txt/",
  "a.txt/..",
  "sub\\..\\..\\job.log",
  "link-out",
  "link-out/passwd",
];

const QUERY_BAD = [
  "abc",
  "-1",
  "0",
  "1.5",
  "1e999",
  "9".repeat(400),
  "NaN",
  "Infinity",
  "true",
  "null",
  "%00",
  "%5B%5D",
  "%7B%7D",
  "",
  "x".repeat(5000),
  "%ff",
  "%",
  "1%00",
  "%0d%0a",
  "..%2f..%2fetc%2fpasswd",
];

/** The keys of the `config` field (the SubmitForm's description must name each). */
const CONFIG_KEYS = ["entrypoint", "queue", "time_limit", "priority", "compute_only", "root_file"];
const CONFIG_BAD = [
  "1e999",
  '"abc"',
  "-1",
  "0",
  "1e308",
  "9007199254740993",
  "99999999999999999999999999",
  "true",
  "null",
  "[]",
  "{}",
  '"../../etc/passwd"',
  `"${"x".repeat(10000)}"`,
  deepArray(10000),
  '"\\u0000"',
  '"__proto__"',
];

interface OpenApi {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { name: string; in: string; schema?: Record<string, unknown> }[];
        requestBody?: { content: Record<string, { schema: { $ref?: string } }> };
      }
    >
  >;
  components: {
    schemas: Record<string, { properties?: Record<string, { format?: string; description?: string }> }>;
  };
}

test("over 1,000 malformed requests from /openapi.json: no 5xx, the daemon lives, nothing written outside its data folder", async () => {
  const parent = tempDir("pxs-fault-malformed-");
  const dataDir = join(parent, "data");
  const secret = `canary-${crypto.randomUUID()}`;
  const canary = join(parent, "canary.txt");
  writeFileSync(canary, secret);
  const canaryMtime = statSync(canary).mtimeMs;
  const evil = `pxs-evil-${crypto.randomUUID().slice(0, 8)}`;
  const logMark = `LOGMARK-${crypto.randomUUID()}`;

  // The daemon's working directory is the canary's folder: a relative write would land beside it.
  const daemon = await startServeProcess(FROM_SOURCE, {
    dataDir,
    cwd: parent,
    env: { SLOTS: "cpu:1", UPLOAD_IDLE_TIMEOUT: "2", MAX_UPLOAD_SIZE: "64MiB" },
  });
  processes.push(daemon);
  const port = Number(new URL(daemon.url).port);

  // An existing job with outputs, a symlink out of them, and a log line to look for in answers.
  const setup = await daemon.submit({
    script: scriptFile(`import { mkdirSync, symlinkSync } from "node:fs";
export async function main(ctx) {
  console.log("LOG" + "MARK-" + ${JSON.stringify(logMark.slice("LOGMARK-".length))});
  await Bun.write(ctx.outputDir("a.txt"), "a");
  mkdirSync(ctx.outputDir("sub"), { recursive: true });
  await Bun.write(ctx.outputDir("sub/b.txt"), "b");
  symlinkSync("/etc", ctx.outputDir("link-out"));
  return 1;
}`),
  });
  const job = ((await setup.json()) as { uuid: string }).uuid;
  expect((await daemon.waitFor(job)).status).toBe("SUCCESS");

  const spec = (await (await fetch(`${daemon.url}/openapi.json`)).json()) as OpenApi;
  const valid: Record<string, string> = { uuid: job, name: "sleep", path: "a.txt" };
  const tokens: [string, [string, string][]][] = [
    ["token", [["x-api-key", TOKEN]]],
    ["no token", []],
  ];
  const cases: Case[] = [];
  const add = (label: string, bytes: Uint8Array, halfClose = false) => {
    for (const [name, auth] of tokens) {
      // The token goes right after the request line, before any header the case brings.
      const text = new TextDecoder("latin1").decode(bytes.subarray(0, 64));
      const eol = text.indexOf("\r\n");
      const withAuth =
        auth.length === 0 || eol < 0
          ? bytes
          : concat([
              bytes.subarray(0, eol + 2),
              `${auth[0]![0]}: ${auth[0]![1]}\r\n`,
              bytes.subarray(eol + 2),
            ]);
      cases.push({ label: `${label} (${name})`, bytes: withAuth, halfClose });
    }
  };
  const target = (template: string, values: Record<string, string>, query = "") =>
    template.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? valid[name] ?? "x") +
    (query ? `?${query}` : "");

  const operations: string[] = [];
  for (const [template, methods] of Object.entries(spec.paths)) {
    for (const [lower, op] of Object.entries(methods)) {
      const method = lower.toUpperCase();
      operations.push(`${method} ${template}`);
      const params = op.parameters ?? [];

      // The valid request, and the same with methods no route serves.
      add(`${method} ${template} valid`, httpRequest(method, target(template, {}), []));
      for (const other of ["PUT", "PATCH", "OPTIONS", "TRACE", "FOO", ...(method === "GET" ? ["HEAD"] : [])])
        add(`${other} ${template}`, httpRequest(other, target(template, {}), []));

      for (const p of params.filter((p) => p.in === "path")) {
        const bad = [...pathBad(evil), ...(p.name === "path" ? OUTPUT_PATH_BAD : [])];
        for (const value of bad)
          add(
            `${method} ${template} path ${p.name}=${value.slice(0, 60)}`,
            httpRequest(method, target(template, { [p.name]: value }), []),
          );
      }
      for (const p of params.filter((p) => p.in === "query")) {
        for (const value of QUERY_BAD)
          add(
            `${method} ${template} query ${p.name}=${value.slice(0, 60)}`,
            httpRequest(method, target(template, {}, `${p.name}=${value}`), []),
          );
        add(
          `${method} ${template} query ${p.name} twice`,
          httpRequest(method, target(template, {}, `${p.name}=1&${p.name}=abc`), []),
        );
        add(
          `${method} ${template} query ${p.name}[]`,
          httpRequest(method, target(template, {}, `${p.name}[]=1&${p.name}[a]=2`), []),
        );
      }
      // A body and a content type where none is expected.
      if (!op.requestBody) {
        add(
          `${method} ${template} with a deep JSON body`,
          httpRequest(
            method,
            target(template, {}),
            [["Content-Type", "application/json"]],
            encoder.encode(deepObject(10000)),
          ),
        );
      }

      for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
        expect(type).toBe("multipart/form-data"); // the only body the API takes
        const ref = media.schema.$ref?.split("/").pop() ?? "";
        const properties = spec.components.schemas[ref]?.properties ?? {};
        const fileFields = Object.keys(properties).filter((k) => properties[k]!.format === "binary");
        const textFields = Object.keys(properties).filter((k) => properties[k]!.format !== "binary");
        for (const key of CONFIG_KEYS) expect(properties.config?.description ?? "").toContain(key);

        // A valid form whose job, if accepted, waits on a queue no slot serves.
        const base = (): Part[] => [
          { name: "script", filename: "noop.ts", value: "export async function main() { return 1; }" },
          { name: "params", value: "{}" },
          { name: "config", value: '{"queue":"parked"}' },
        ];
        const withField = (name: string, part: Part | null) => {
          const parts = base().filter((p) => p.name !== name);
          if (part) parts.push(part);
          return parts;
        };
        const post = (label: string, parts: Part[]) =>
          add(
            `${method} ${template} ${label}`,
            httpRequest(
              method,
              target(template, {}),
              [["Content-Type", `multipart/form-data; boundary=${BOUNDARY}`]],
              multipart(parts),
            ),
          );

        post("valid form", base());
        for (const field of textFields) {
          for (const value of [...TEXT_BAD, "x".repeat(1024 * 1024 + 1)])
            post(`field ${field}=${value.slice(0, 40)}`, withField(field, { name: field, value }));
          post(
            `field ${field} as a file`,
            withField(field, { name: field, filename: "f.json", value: "{}" }),
          );
          post(`field ${field} twice`, [...base(), { name: field, value: "1" }, { name: field, value: "2" }]);
        }
        for (const field of fileFields) {
          post(
            `file ${field} as text`,
            withField(field, { name: field, value: "export async function main() {}" }),
          );
          post(`file ${field} empty text`, withField(field, { name: field, value: "" }));
          post(`file ${field} twice`, [
            ...base(),
            { name: field, filename: "x.ts", value: "1" },
            { name: field, filename: "y.ts", value: "2" },
          ]);
          post(
            `file ${field} binary garbage`,
            withField(field, {
              name: field,
              filename: "garbage.ts",
              value: crypto.getRandomValues(new Uint8Array(65536)),
            }),
          );
          const names = [
            `../../${evil}.ts`,
            `../../../../../../../../tmp/${evil}.ts`,
            `/tmp/${evil}.ts`,
            `..\\..\\${evil}.ts`,
            `C:\\${evil}.ts`,
            `%2e%2e%2f%2e%2e%2f${evil}.ts`,
            `${evil}\u0000.ts`,
            `${evil}/../../x.ts`,
            "..",
            ".",
            "...",
            ".ts",
            "",
            `${"x".repeat(10000)}.ts`,
            `\u202e${evil}.ts`,
            `${evil}\r\nX-Injected: 1.ts`,
          ];
          for (const filename of names)
            post(
              `file ${field} named ${JSON.stringify(filename.slice(0, 50))}`,
              withField(field, {
                name: field,
                filename,
                value: "export async function main() { return 1; }",
              }),
            );
          post(
            `file ${field} filename* traversal`,
            withField(field, {
              name: field,
              value: "export async function main() { return 1; }",
              rawHeaders: `Content-Disposition: form-data; name="${field}"; filename*=UTF-8''%2e%2e%2f%2e%2e%2f${evil}.ts\r\n`,
            }),
          );
        }
        for (const key of CONFIG_KEYS) {
          for (const value of CONFIG_BAD)
            post(
              `config.${key}=${value.slice(0, 40)}`,
              withField("config", { name: "config", value: `{"queue":"parked","${key}":${value}}` }),
            );
        }
        // Malformed parts.
        post("a part without Content-Disposition", [...base(), { name: "x", value: "1", rawHeaders: "" }]);
        post("a part without a name", [
          ...base(),
          { name: "x", value: "1", rawHeaders: "Content-Disposition: form-data\r\n" },
        ]);
        post("a part name with a quote", [
          ...base(),
          { name: "x", value: "1", rawHeaders: 'Content-Disposition: form-data; name="a\\"b"\r\n' },
        ]);
        post("a base64 part", [
          ...base(),
          {
            name: "params",
            value: "e30=",
            rawHeaders:
              'Content-Disposition: form-data; name="params"\r\nContent-Transfer-Encoding: base64\r\n',
          },
        ]);
        post("41 parts", [
          ...base(),
          ...Array.from({ length: 41 }, (_, i) => ({ name: `f${i}`, value: "1" })),
        ]);
        post("9 file parts", [
          ...base(),
          ...Array.from({ length: 9 }, (_, i) => ({ name: `g${i}`, filename: `g${i}.bin`, value: "1" })),
        ]);

        // Wrong content types.
        const body = multipart(base());
        for (const contentType of [
          null,
          "application/json",
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data",
          "multipart/form-data; boundary=",
          "multipart/form-data; boundary=wrongBoundary",
          `multipart/form-data; boundary=${"b".repeat(200)}`,
          `multipart/mixed; boundary=${BOUNDARY}`,
          `MULTIPART/FORM-DATA; BOUNDARY=${BOUNDARY}`,
          `multipart/form-data; boundary=${BOUNDARY}; charset=utf-7`,
          `multipart/form-data; boundary="${BOUNDARY}`,
          "image/png",
          "\u0000",
        ]) {
          add(
            `${method} ${template} content type ${contentType}`,
            httpRequest(
              method,
              target(template, {}),
              contentType === null ? [] : [["Content-Type", contentType]],
              body,
            ),
          );
        }
        add(
          `${method} ${template} JSON body 10,000 deep`,
          httpRequest(
            method,
            target(template, {}),
            [["Content-Type", "application/json"]],
            encoder.encode(`{"params":${deepObject(10000)}}`),
          ),
        );
        add(
          `${method} ${template} urlencoded body`,
          httpRequest(
            method,
            target(template, {}),
            [["Content-Type", "application/x-www-form-urlencoded"]],
            encoder.encode("process=sleep&params=%7B%7D"),
          ),
        );
        const multipartType: [string, string] = ["Content-Type", `multipart/form-data; boundary=${BOUNDARY}`];
        for (const empty of ["", `--${BOUNDARY}--`, `--${BOUNDARY}\r\n`, "\r\n\r\n", "garbage"])
          add(
            `${method} ${template} body ${JSON.stringify(empty)}`,
            httpRequest(method, target(template, {}), [multipartType], encoder.encode(empty)),
          );

        // Truncated bodies: cut at many offsets, the Content-Length telling the cut length...
        const full = multipart([
          ...base(),
          { name: "file", filename: "input.bin", value: new Uint8Array(4096).fill(65) },
          { name: "name", value: "truncated" },
        ]);
        const cuts = [
          1,
          2,
          10,
          40,
          80,
          120,
          200,
          300,
          500,
          1000,
          2000,
          3000,
          4000,
          full.length - 60,
          full.length - 10,
          full.length - 4,
          full.length - 2,
          full.length - 1,
        ];
        for (const cut of cuts)
          add(
            `${method} ${template} body cut at ${cut}/${full.length}`,
            httpRequest(method, target(template, {}), [multipartType], full.subarray(0, cut)),
          );
        // ...or the full length, the client then closing its side (FIN) or just stopping.
        for (const cut of [10, 500, full.length - 1]) {
          add(
            `${method} ${template} body cut at ${cut}, FIN`,
            httpRequest(
              method,
              target(template, {}),
              [multipartType, ["Content-Length", String(full.length)]],
              full.subarray(0, cut),
              true,
            ),
            true,
          );
          add(
            `${method} ${template} body cut at ${cut}, stalled`,
            httpRequest(
              method,
              target(template, {}),
              [multipartType, ["Content-Length", String(full.length)]],
              full.subarray(0, cut),
              true,
            ),
          );
        }
        // Lying or odd framing.
        const framing: [string, [string, string][], Uint8Array][] = [
          ["Content-Length -1", [multipartType, ["Content-Length", "-1"]], body],
          ["Content-Length abc", [multipartType, ["Content-Length", "abc"]], body],
          ["Content-Length huge", [multipartType, ["Content-Length", "99999999999999999999999"]], body],
          ["Content-Length 1e999", [multipartType, ["Content-Length", "1e999"]], body],
          [
            "two Content-Lengths",
            [multipartType, ["Content-Length", String(body.length)], ["Content-Length", "5"]],
            body,
          ],
          [
            "chunked",
            [multipartType, ["Transfer-Encoding", "chunked"]],
            concat([`${body.length.toString(16)}\r\n`, body, "\r\n0\r\n\r\n"]),
          ],
          [
            "chunked, bad size",
            [multipartType, ["Transfer-Encoding", "chunked"]],
            concat(["zz\r\n", body, "\r\n0\r\n\r\n"]),
          ],
          [
            "chunked, size too big",
            [multipartType, ["Transfer-Encoding", "chunked"]],
            concat(["fffffffffffffffff\r\n", body, "\r\n0\r\n\r\n"]),
          ],
          [
            "chunked and Content-Length",
            [multipartType, ["Transfer-Encoding", "chunked"], ["Content-Length", "3"]],
            concat([`${body.length.toString(16)}\r\n`, body, "\r\n0\r\n\r\n"]),
          ],
          [
            "Transfer-Encoding gzip",
            [multipartType, ["Transfer-Encoding", "gzip"], ["Content-Length", String(body.length)]],
            body,
          ],
          [
            "Content-Encoding gzip",
            [multipartType, ["Content-Encoding", "gzip"], ["Content-Length", String(body.length)]],
            body,
          ],
          [
            "Expect 100-continue",
            [multipartType, ["Expect", "100-continue"], ["Content-Length", String(body.length)]],
            body,
          ],
        ];
        for (const [label, headers, bytes] of framing)
          add(
            `${method} ${template} ${label}`,
            httpRequest(method, target(template, {}), headers, bytes, true),
          );
      }
    }
  }
  // Broken request lines, once each. Bun's HTTP parser answers these before any code of the
  // daemon runs: it answers 505 (HTTP Version Not Supported) to a version it cannot read (even for
  // `GET /jobs<NUL> HTTP/1.1`), the only 5xx allowed here, and only for these probes.
  const parserProbes = new Set<string>();
  for (const line of [
    "GET /health HTTP/9.9",
    "GET /health",
    "GET  /health HTTP/1.1",
    "get /health HTTP/1.1",
    "GET health HTTP/1.1",
    `GET /${"x".repeat(100000)} HTTP/1.1`,
    "GET /jobs\u0000 HTTP/1.1",
    "\u0000\u0001\u0002",
  ]) {
    const label = `request line ${JSON.stringify(line.slice(0, 40))}`;
    parserProbes.add(label);
    cases.push({ label, bytes: encoder.encode(`${line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`) });
  }
  // Hostile headers, once each.

  for (const [k, v] of [
    ["x-api-key", "x".repeat(100000)],
    ["x-api-key", `${TOKEN}\u0000`],
    ["x-api-key", ""],
    ["Range", "bytes=99999999999999999999-"],
    ["Range", "bytes=-1e999"],
    ["Range", "bytes=5-1,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0"],
    ["X-Huge", "y".repeat(200000)],
  ] as [string, string][])
    cases.push({
      label: `header ${k}: ${v.slice(0, 30)}`,
      bytes: httpRequest(
        "GET",
        `/jobs/${job}/outputs/a.txt`,
        [
          ["x-api-key", TOKEN],
          [k, v],
        ].slice(k === "x-api-key" ? 1 : 0) as [string, string][],
      ),
    });

  // Send them all, IN_FLIGHT at a time.
  const started = Date.now();
  const byStatus = new Map<string, number>();
  const serverErrors: string[] = [];
  const leaks: string[] = [];
  const parserAnswers: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        const answer = await rawRequest(port, c.bytes, {
          timeoutMs: 15000,
          halfClose: c.halfClose,
          maxBody: 64 * 1024,
        });
        const key = answer.status === null ? answer.ended : String(answer.status);
        byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
        if (process.env.FAULT_DEBUG) console.log(`DEBUG ${key} ${c.label}`);
        const parser505 = parserProbes.has(c.label) && answer.status === 505;
        if (parser505) parserAnswers.push(`${c.label} -> 505`);
        if (answer.status === null ? answer.ended === "timeout" : answer.status >= 500 && !parser505)
          serverErrors.push(
            `${c.label} -> ${answer.status ?? answer.ended}: ${answer.text.slice(0, 400).replace(/\r\n/g, " | ")}`,
          );
        const body = answer.text.slice(answer.text.indexOf("\r\n\r\n") + 4);
        const fromLogRoute = c.label.includes("/logs");
        if (body.includes(secret) || body.includes("root:x:0:0") || (!fromLogRoute && body.includes(logMark)))
          leaks.push(`${c.label} -> ${answer.status}: ${body.slice(0, 200)}`);
      }
    }),
  );
  const seconds = (Date.now() - started) / 1000;

  const health = await fetch(`${daemon.url}/health`);
  const alive = daemon.proc.exitCode === null && health.status === 200;

  // Nothing outside the data folder: the canary's folder holds only the canary and the data
  // folder, the canary is untouched, and no file with the hostile name exists where a traversal
  // would have put it. Inside the data folder, such a file is only a job's own upload.
  const outside = readdirSync(parent).sort();
  const canaryIntact = readFileSync(canary, "utf8") === secret && statSync(canary).mtimeMs === canaryMtime;
  const escaped: string[] = [];
  for (const dir of ["/", "/tmp", "/etc", dirname(parent), parent, ROOT, dataDir, join(dataDir, "jobs")]) {
    for (const entry of existsSync(dir) ? readdirSync(dir) : [])
      if (entry.includes(evil)) escaped.push(join(dir, entry));
  }
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
    );
  const misplaced = walk(dataDir)
    .map((f) => relative(dataDir, f))
    .filter((f) => f.includes(evil) && !/^jobs\/[0-9a-f-]{36}\/(script|inputs)\/[^/]+$/.test(f));
  // Aborted, stalled and refused uploads leave nothing in staging.
  const stagingEmpty = await eventually(() => stagedUploads(dataDir).length === 0, 5000);
  const unhandled = daemon
    .log()
    .split("\n")
    .filter((l) => l.includes("unhandled error"));

  const counts = [...byStatus.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}: ${n}`);
  console.log(
    `malformed: ${cases.length} requests over ${operations.length} operations of /openapi.json in ${seconds.toFixed(1)} s; ` +
      `by status {${counts.join(", ")}}; 5xx or hung: ${serverErrors.length}; daemon alive: ${alive}; ` +
      `writes outside the data folder: ${escaped.length + (canaryIntact ? 0 : 1) + outside.length - 2}; foreign content served: ${leaks.length}; ` +
      `staging empty: ${stagingEmpty}; Bun's parser answered 505 to ${parserAnswers.length} broken request lines`,
  );
  for (const line of parserAnswers) console.log(`  parser: ${line}`);
  for (const line of serverErrors.slice(0, 40)) console.log(`  5xx: ${line}`);
  for (const line of leaks.slice(0, 20)) console.log(`  leak: ${line}`);
  for (const line of unhandled.slice(0, 20)) console.log(`  daemon log: ${line.slice(0, 300)}`);

  expect(cases.length).toBeGreaterThanOrEqual(1000);
  expect(serverErrors).toEqual([]);
  expect(alive).toBe(true);
  expect(outside).toEqual(["canary.txt", "data"]);
  expect(canaryIntact).toBe(true);
  expect(escaped).toEqual([]);
  expect(misplaced).toEqual([]);
  expect(leaks).toEqual([]);
  expect(stagingEmpty).toBe(true);
  rmSync(parent, { recursive: true, force: true });
}, 300000);
