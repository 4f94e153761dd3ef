// Bad input through the real API: every refusal is a 4xx in the original's envelope
// {"detail": {"code", "message", "details"}} with words that say what to fix; never a 500.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import {
  scriptFile,
  stagedUploads,
  startTestDaemon,
  type TestDaemon,
  TOKEN,
  tempDir,
} from "./helpers/daemon.ts";

const MAIN = "export async function main(ctx, params) { return { ok: true, params }; }";
const UNKNOWN_UUID = "0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2b";

// Extra processes in PROCESS_DIR: a documented one, two without a doc, and an override of `sleep`.
const PROCESSES: Record<string, string> = {
  "extra.ts": `/**
 * An extra process from PROCESS_DIR.
 *
 * Returns its params.
 */
export async function main(ctx, params) { return { extra: params }; }`,
  "nodoc.ts": `// a line comment is not a doc comment
export async function main() { return 1; }`,
  "blankdoc.ts": `/** */
export function main() { return 1; }`,
  "sleep.ts": `/** My own sleep, overriding the built-in one. */
export async function main() { return { mine: true }; }`,
};

let d: TestDaemon;
let processDir: string;
beforeAll(async () => {
  processDir = tempDir("pxs-processes-");
  for (const [file, source] of Object.entries(PROCESSES)) writeFileSync(join(processDir, file), source);
  d = await startTestDaemon({ PROCESS_DIR: processDir });
});
afterAll(async () => {
  await d.close();
  rmSync(processDir, { recursive: true, force: true });
});

interface Envelope {
  detail: { code: number; message: string; details: string };
}

/** Asserts an error answer in the envelope; returns its `details` text. */
async function expectError(res: Response, status: number, ...words: (string | RegExp)[]): Promise<string> {
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status });
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = JSON.parse(text) as Envelope;
  expect(Object.keys(body)).toEqual(["detail"]);
  expect(body.detail.code).toBe(status);
  expect(body.detail.message).toBe({ 400: "Bad Request", 403: "Forbidden" }[status] ?? "Not Found");
  for (const word of words) {
    if (typeof word === "string") expect(body.detail.details).toContain(word);
    else expect(body.detail.details).toMatch(word);
  }
  return body.detail.details;
}

async function submitOk(fields: Record<string, string | File>): Promise<Record<string, unknown>> {
  const res = await d.submit(fields);
  const body = (await res.json()) as Record<string, unknown>;
  expect({ status: res.status, body }).toMatchObject({ status: 200, body: { status: "SENT" } });
  return body;
}

async function jobCount(): Promise<number> {
  const body = (await (await d.api("/jobs")).json()) as { jobs: unknown[] };
  return body.jobs.length;
}

/** A GET sent byte for byte: fetch() would resolve `..` and `%2e%2e` before sending. */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  const url = new URL(d.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nx-api-key: ${TOKEN}\r\nConnection: close\r\n\r\n`,
      );
    });
    let data = "";
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
    });
    socket.on("end", () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]);
      resolve({ status, body: data.slice(data.indexOf("\r\n\r\n") + 4) });
    });
    socket.on("error", reject);
  });
}

describe("POST /jobs: the process and its script", () => {
  test("an unknown process is refused with its name", async () => {
    await expectError(await d.submit({ process: "nope" }), 400, "Invalid process 'nope'");
  });

  test("a process name that tries to leave the process folder is just an unknown process", async () => {
    await expectError(await d.submit({ process: "../sleep" }), 400, "Invalid process '../sleep'");
  });

  test("'custom' (the default process) without a script is refused", async () => {
    await expectError(await d.submit({}), 400, "'custom' process requires a 'script' file");
    await expectError(
      await d.submit({ process: "custom", params: "{}" }),
      400,
      "'custom' process requires a 'script' file",
    );
  });

  test("a script of another language is refused, and the answer lists what is supported", async () => {
    const details = await expectError(
      await d.submit({ script: scriptFile("def main(pc, params)\n  1\nend\n", "job.rb") }),
      400,
      "Unsupported script 'job.rb'",
    );
    expect(details).toContain(".ts");
    expect(details).toContain(".js");
    expect(details).toContain(".py");
  });

  test("a script that does not parse is refused with the parser's words", async () => {
    await expectError(
      await d.submit({ script: scriptFile("export async function main(ctx, params) { return {;") }),
      400,
      "The script file does not parse",
    );
  });

  test("a script without the entrypoint function is refused", async () => {
    await expectError(
      await d.submit({ script: scriptFile("export function other() {}") }),
      400,
      "The script file does not have the function main",
    );
  });

  test("a function that is defined but not exported does not count as the entrypoint", async () => {
    await expectError(
      await d.submit({ script: scriptFile("async function main() {}\nexport const x = 1;") }),
      400,
      "The script file does not have the function main",
    );
  });

  test("config.entrypoint naming a function the script lacks is refused with that name", async () => {
    await expectError(
      await d.submit({ script: scriptFile(MAIN), config: '{"entrypoint": "convert"}' }),
      400,
      "The script file does not have the function convert",
    );
    await expectError(
      await d.submit({ process: "sleep", config: '{"entrypoint": "convert"}' }),
      400,
      "The script file does not have the function convert",
    );
  });

  test("config.entrypoint naming another exported function runs that function", async () => {
    const source = `
      export async function main() { return "main ran"; }
      export async function convert(ctx, params) { return { converted: params.x }; }`;
    const sent = await submitOk({
      script: scriptFile(source),
      params: '{"x": 7}',
      config: '{"entrypoint": "convert"}',
    });
    const done = await d.waitFor(sent.uuid as string);
    expect(done).toMatchObject({ status: "SUCCESS", result: { converted: 7 } });
  });
});

describe("POST /jobs: params and config JSON", () => {
  test("invalid params JSON is refused with the parser's message", async () => {
    const details = await expectError(
      await d.submit({ script: scriptFile(MAIN), params: "{duration: 1}" }),
      400,
    );
    expect(details.startsWith("Invalid JSON string for 'params': ")).toBe(true);
    expect(details.length).toBeGreaterThan("Invalid JSON string for 'params': ".length);
  });

  test("invalid config JSON is refused", async () => {
    const details = await expectError(
      await d.submit({ script: scriptFile(MAIN), config: "{'queue': 'cpu'}" }),
      400,
    );
    expect(details.startsWith("Invalid JSON string for 'config': ")).toBe(true);
  });

  test.each([
    ["an array", "[1, 2]"],
    ["a number", "42"],
    ["a string", '"cpu"'],
    ["null", "null"],
  ])("config that is %s, not an object, is refused", async (_, config) => {
    await expectError(
      await d.submit({ script: scriptFile(MAIN), config }),
      400,
      "'config' must be a JSON object",
    );
  });

  test.each([
    ["queue", '"GPU!"', "config.queue must be a queue name"],
    ["queue", "7", "config.queue must be a queue name"],
    ["time_limit", "-1", "config.time_limit must be a number of seconds"],
    ["time_limit", "0", "config.time_limit must be a number of seconds"],
    ["time_limit", '"abc"', "config.time_limit must be a number of seconds"],
    ["time_limit", "1e12", "config.time_limit must be a number of seconds"],
    ["time_limit", "true", "config.time_limit must be a number of seconds"],
    ["entrypoint", '"1x"', "config.entrypoint must be a function name"],
    ["entrypoint", '"main; rm -rf /"', "config.entrypoint must be a function name"],
    ["priority", "1.5", "config.priority must be an integer"],
    ["priority", "100000", "config.priority must be an integer"],
    ["compute_only", '"yes"', "config.compute_only must be true or false"],
    ["root_file", '"../x"', "config.root_file must be a relative path"],
    ["root_file", '"a/../../x"', "config.root_file must be a relative path"],
    ["root_file", '"/etc/passwd"', "config.root_file must be a relative path"],
  ])("config.%s = %s is refused", async (key, value, words) => {
    const details = await expectError(
      await d.submit({ script: scriptFile(MAIN), config: `{"${key}": ${value}}` }),
      400,
      words,
    );
    // The message quotes the value it refused.
    expect(details).toContain(JSON.stringify(JSON.parse(value)));
  });

  test("null config values mean the default, as the original's client sends them", async () => {
    const sent = await submitOk({
      process: "api_test",
      config:
        '{"entrypoint": "main", "queue": null, "time_limit": 3600, "priority": null, "root_file": null}',
    });
    expect(sent.warnings).toBeUndefined();
    const done = await d.waitFor(sent.uuid as string);
    expect(done).toMatchObject({ status: "SUCCESS", queue: "cpu", time_limit: 3600, priority: 0 });
  });

  test("valid config values are taken: time_limit as a numeric string, priority, queue", async () => {
    const sent = await submitOk({
      process: "api_test",
      config: '{"time_limit": "120", "priority": 5, "queue": "cpu"}',
    });
    const details = (await (await d.api(`/jobs/${sent.uuid}/details`)).json()) as Record<string, unknown>;
    expect(details).toMatchObject({ time_limit: 120, priority: 5, queue: "cpu" });
  });

  test("empty text fields count as absent: empty params, config and name are accepted", async () => {
    const sent = await submitOk({ process: "api_test", params: "", config: " ", name: "" });
    expect(sent.name).toBeNull();
    const done = await d.waitFor(sent.uuid as string);
    expect(done).toMatchObject({ status: "SUCCESS", result: { params: {} } });
  });

  test("immutable keys (script, data, shadow, uuid) are ignored with a warning each", async () => {
    const sent = await submitOk({
      process: "api_test",
      config: JSON.stringify({
        script: "/etc/passwd",
        data: "/",
        shadow: true,
        uuid: UNKNOWN_UUID,
        queue: "cpu",
      }),
    });
    expect(sent.uuid).not.toBe(UNKNOWN_UUID);
    const warnings = sent.warnings as string[];
    expect(warnings).toHaveLength(4);
    for (const key of ["script", "data", "shadow", "uuid"]) {
      expect(warnings.some((w) => w.includes(`config.${key}`) && w.includes("ignored"))).toBe(true);
    }
    const done = await d.waitFor(sent.uuid as string);
    expect(done.status).toBe("SUCCESS");
  });

  test("unknown config keys and unknown form fields are ignored with a warning", async () => {
    const sent = await submitOk({ process: "api_test", config: '{"colour": "red"}', extra: "x" });
    expect(sent.warnings).toEqual([
      "form field 'extra' is not known and was ignored",
      "config.colour is not a known setting and was ignored",
    ]);
  });
});

describe("POST /jobs: the body's encoding", () => {
  test("a JSON body is refused: the route takes multipart/form-data", async () => {
    const res = await d.api("/jobs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ process: "sleep" }),
    });
    await expectError(res, 400, "multipart/form-data", "process, script, file, params, name, config");
  });

  test("a url-encoded form and a body without content type are refused", async () => {
    const urlencoded = await d.api("/jobs", {
      method: "POST",
      body: new URLSearchParams({ process: "sleep" }),
    });
    await expectError(urlencoded, 400, "multipart/form-data");
    const bare = await d.api("/jobs", { method: "POST" });
    await expectError(bare, 400, "multipart/form-data");
  });

  test("a multipart body that does not parse is refused", async () => {
    const res = await d.api("/jobs", {
      method: "POST",
      headers: { "content-type": "multipart/form-data; boundary=XYZ" },
      body: "--XYZ\r\nthis is not a part",
    });
    await expectError(res, 400, "The multipart body could not be read");
    const noBoundary = await d.api("/jobs", {
      method: "POST",
      headers: { "content-type": "multipart/form-data" },
      body: "{}",
    });
    await expectError(noBoundary, 400, "The multipart body could not be read");
  });

  test("a file field sent as text is refused", async () => {
    await expectError(
      await d.submit({ process: "api_test", file: "model.fbx" }),
      400,
      "'file' must be a file upload",
    );
    await expectError(
      await d.submit({ script: "export function main() {}" }),
      400,
      "'script' must be a file upload",
    );
  });

  test("a text field sent as a file is refused", async () => {
    await expectError(
      await d.submit({ process: new File(["sleep"], "p.txt"), params: "{}" }),
      400,
      "'process' must be a text field",
    );
    await expectError(
      await d.submit({ process: "api_test", params: new File(["{}"], "params.json") }),
      400,
      "'params' must be a text field",
    );
  });

  test("an upload with an empty file name is refused", async () => {
    await expectError(
      await d.submit({ process: "api_test", file: new File(["0123"], "") }),
      400,
      "'file'",
      "file name",
    );
    await expectError(await d.submit({ script: new File([MAIN], "") }), 400, "'script'", "file name");
  });

  test("an upload whose name has nothing usable left ('...') is refused", async () => {
    await expectError(
      await d.submit({ process: "api_test", file: new File(["0123"], "...") }),
      400,
      "'file'",
      "file name",
    );
  });

  test("an empty, nameless file part (a browser's unfilled file input) counts as absent", async () => {
    const sent = await submitOk({ process: "api_test", file: new File([], "") });
    const done = await d.waitFor(sent.uuid as string);
    expect(done.status).toBe("SUCCESS");
  });
});

describe("a rejected submission leaves nothing behind", () => {
  test("no job folder, an empty staging folder and no row after each kind of refusal", async () => {
    const jobsDir = join(d.dataDir, "jobs");
    const foldersBefore = readdirSync(jobsDir).sort();
    const countBefore = await jobCount();
    const refusals: Record<string, string | File>[] = [
      { process: "nope", file: new File(["data"], "model.fbx") },
      { script: scriptFile("export function other() {}"), file: new File(["data"], "model.fbx") },
      { script: scriptFile(MAIN), params: "{", file: new File(["data"], "model.fbx") },
      { script: scriptFile(MAIN), config: '{"queue": "GPU!"}', file: new File(["data"], "model.fbx") },
      // These two get as far as writing the script into staging before the input is refused.
      { script: scriptFile(MAIN), file: new File(["data"], "...") },
      { script: scriptFile(MAIN), file: new File(["data"], "") },
    ];
    for (const fields of refusals) expect((await d.submit(fields)).status).toBe(400);
    expect(readdirSync(jobsDir).sort()).toEqual(foldersBefore);
    expect(foldersBefore).toContain(".staging");
    expect(stagedUploads(d.dataDir)).toEqual([]);
    expect(await jobCount()).toBe(countBefore);
  });
});

describe("job routes: the uuid path parameter", () => {
  const routes = (uuid: string) => [
    `/jobs/${uuid}`,
    `/jobs/${uuid}/details`,
    `/jobs/${uuid}/outputs`,
    `/jobs/${uuid}/outputs/x.txt`,
  ];

  test.each([
    ["not a uuid", "not-a-uuid"],
    ["uppercase", UNKNOWN_UUID.toUpperCase()],
    ["a v1 uuid", "0b8e5b9a-2c4d-1f6e-9a1b-3c5d7e9f1a2b"],
    ["too short", "0b8e5b9a-2c4d-4f6e-9a1b-3c5d7e9f1a2"],
    ["SQL", "1'%20OR%20'1'='1"],
  ])("a malformed uuid (%s) is a 400 on every job route", async (_, uuid) => {
    for (const route of routes(uuid)) {
      await expectError(await d.api(route), 400, "uuid", "must be a job UUID");
    }
  });

  test("a well-formed but unknown uuid is a 404 on every job route", async () => {
    for (const route of routes(UNKNOWN_UUID)) {
      await expectError(await d.api(route), 404, `Job '${UNKNOWN_UUID}' does not exist`);
    }
  });
});

describe("GET /jobs/{uuid}/outputs/{path}: nothing outside the outputs folder", () => {
  const SECRET = "SECRET-INPUT-BYTES";
  let uuid: string;
  beforeAll(async () => {
    // The script itself plants symlinks in its outputs: to /etc/passwd, to its inputs folder, to its input.
    const source = `
      import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
      export async function main(ctx) {
        writeFileSync(ctx.outputDir("a.txt"), "A");
        writeFileSync(ctx.outputDir("sub/b.txt"), "B");
        symlinkSync("/etc/passwd", ctx.outputDir("passwd"));
        symlinkSync("../inputs", ctx.outputDir("in"));
        symlinkSync(ctx.inputFile(), ctx.outputDir("sub/input-link"));
        symlinkSync("a.txt", ctx.outputDir("latest.txt"));
        return "planted";
      }`;
    const sent = await submitOk({ script: scriptFile(source), file: new File([SECRET], "model.fbx") });
    uuid = sent.uuid as string;
    expect((await d.waitFor(uuid)).status).toBe("SUCCESS");
  });

  test("the real outputs download, and the listing shows only regular files", async () => {
    const a = await d.api(`/jobs/${uuid}/outputs/a.txt`);
    expect(a.status).toBe(200);
    expect(await a.text()).toBe("A");
    expect(await (await d.api(`/jobs/${uuid}/outputs/sub/b.txt`)).text()).toBe("B");
    expect(await (await d.api(`/jobs/${uuid}/outputs`)).json()).toEqual({ outputs: ["a.txt", "sub/b.txt"] });
  });

  test.each([
    ["'..' hidden by an encoded slash", "..%2Finputs%2Fmodel.fbx", "'..' is not allowed"],
    ["percent-encoded dots and slash", "%2e%2e%2finputs%2fmodel.fbx", "'..' is not allowed"],
    ["'..' deeper in an encoded path", "sub%2F..%2F..%2Finputs%2Fmodel.fbx", "'..' is not allowed"],
    ["an encoded absolute path", "%2Fetc%2Fpasswd", "Invalid file path '/etc/passwd'"],
    ["a backslash", "..%5Cinputs%5Cmodel.fbx", "Invalid file path"],
    ["a NUL byte", "a.txt%00", "Invalid file path"],
  ])("%s is a 400", async (_, path, words) => {
    const res = await rawGet(`/jobs/${uuid}/outputs/${path}`);
    expect(res.status).toBe(400);
    expect(res.body).toContain(words);
    expect(res.body).not.toContain(SECRET);
  });

  test("literal '..' segments never reach a file: the server resolves them before routing", async () => {
    // Bun resolves dot segments (also %2e%2e) in the request target, so these leave /outputs/ and
    // match no route: a 404 envelope, never the input's bytes.
    for (const path of ["../inputs/model.fbx", "%2e%2e/inputs/model.fbx", "sub/../../inputs/model.fbx"]) {
      const res = await rawGet(`/jobs/${uuid}/outputs/${path}`);
      expect(res.status).toBe(404);
      expect(res.body).toContain("No route GET");
      expect(res.body).not.toContain(SECRET);
    }
    // Inside the outputs folder, a resolved '..' is harmless and lands on the right file.
    const inside = await rawGet(`/jobs/${uuid}/outputs/sub/../a.txt`);
    expect(inside.status).toBe(200);
  });

  test("a symlink the script made to /etc/passwd is a 400, not the file", async () => {
    const res = await d.api(`/jobs/${uuid}/outputs/passwd`);
    const details = await expectError(res, 400, "Invalid file path 'passwd'", "outside");
    expect(details).not.toContain("root:");
  });

  test("a symlink to the job's inputs folder, or to its input file, is a 400", async () => {
    for (const path of ["in/model.fbx", "sub/input-link"]) {
      const res = await d.api(`/jobs/${uuid}/outputs/${path}`);
      const details = await expectError(res, 400, `Invalid file path '${path}'`, "outside");
      expect(details).not.toContain(SECRET);
    }
  });

  test("a symlink to one of the job's own outputs is a 403: the last name is never followed", async () => {
    await expectError(
      await d.api(`/jobs/${uuid}/outputs/latest.txt`),
      403,
      "File 'outputs/latest.txt' is not served: it is a symbolic link",
    );
  });

  test("a finished job's output: HEAD gives its length, a range only the bytes asked for", async () => {
    const head = await d.api(`/jobs/${uuid}/outputs/sub/b.txt`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("1");
    const ranged = await d.api(`/jobs/${uuid}/outputs/a.txt`, { headers: { Range: "bytes=0-0" } });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe("A");
  });

  test("a missing output, a missing folder and a folder are 404s", async () => {
    await expectError(
      await d.api(`/jobs/${uuid}/outputs/nope.glb`),
      404,
      "File 'outputs/nope.glb' not found",
    );
    await expectError(await d.api(`/jobs/${uuid}/outputs/none/x.png`), 404, "not found");
    await expectError(await d.api(`/jobs/${uuid}/outputs/sub`), 404, "File 'outputs/sub' not found");
  });

  test("a running job's output is sent from the file checked, whole and by range", async () => {
    const source = `
      import { writeFileSync } from "node:fs";
      export async function main(ctx) {
        writeFileSync(ctx.outputDir("partial.txt"), "first pass");
        await Bun.sleep(30000);
      }`;
    const running = (await submitOk({ script: scriptFile(source) })).uuid as string;
    await d.waitFor(running, ["STARTED"], 10000);
    let res = await d.api(`/jobs/${running}/outputs/partial.txt`);
    for (let i = 0; res.status === 404 && i < 100; i++) {
      await Bun.sleep(50);
      res = await d.api(`/jobs/${running}/outputs/partial.txt`);
    }
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBeNull(); // streamed: the file may still grow
    expect(await res.text()).toBe("first pass");
    const ranged = await d.api(`/jobs/${running}/outputs/partial.txt`, { headers: { Range: "bytes=6-" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe("bytes 6-9/10");
    expect(await ranged.text()).toBe("pass");
    expect((await d.api(`/jobs/${running}/outputs/partial.txt`, { method: "HEAD" })).status).toBe(200);
    // A client that goes away before reading: the descriptor is still closed.
    const controller = new AbortController();
    const abandoned = await d.api(`/jobs/${running}/outputs/partial.txt`, { signal: controller.signal });
    controller.abort();
    await abandoned.body?.cancel().catch(() => {});
    // The daemon runs in this process: no descriptor of the file stays open after those answers.
    const openOnFile = () =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).endsWith("/outputs/partial.txt");
        } catch {
          return false;
        }
      }).length;
    for (let i = 0; openOnFile() > 0 && i < 50; i++) await Bun.sleep(20);
    expect(openOnFile()).toBe(0);

    // Cancelled: REVOKED at once, but its process has SIGTERM_GRACE to die and could still swap the
    // name meanwhile, so the output is still sent from the checked descriptor; once the process
    // group is gone, by name, with its length.
    await d.api(`/jobs/${running}`, { method: "DELETE" });
    expect((await d.waitFor(running)).status).toBe("REVOKED");
    const cancelling = await d.api(`/jobs/${running}/outputs/partial.txt`);
    expect(cancelling.headers.get("content-length")).toBeNull();
    expect(await cancelling.text()).toBe("first pass");
    // The zip, which reads the outputs by name, waits for the processes to be gone.
    const early = await d.api(`/jobs/${running}/outputs/archive`);
    expect(early.status).toBe(425);
    expect(early.headers.get("retry-after")).toBe("1");
    expect(await early.text()).toContain("is still stopping");
    let ended = await d.api(`/jobs/${running}/outputs/partial.txt`);
    for (let i = 0; ended.headers.get("content-length") === null && i < 200; i++) {
      await ended.text();
      await Bun.sleep(50);
      ended = await d.api(`/jobs/${running}/outputs/partial.txt`);
    }
    expect(ended.headers.get("content-length")).toBe("10");
    expect(await ended.text()).toBe("first pass");
  }, 30000);
});

describe("unknown routes", () => {
  test("an unknown path is a 404 envelope naming the method and path", async () => {
    await expectError(await d.api("/nope"), 404, "No route GET /nope");
    await expectError(await d.api(`/jobs/${UNKNOWN_UUID}/bogus`), 404, "No route GET");
  });
});

describe("GET /processes", () => {
  test("lists the built-in processes and PROCESS_DIR's, sorted, with or without a trailing slash", async () => {
    const expected = {
      processes: [
        "api_test",
        "blankdoc",
        "convert_file",
        "extra",
        "generate_metadata",
        "generate_thumbnails",
        "nodoc",
        "sleep",
        "thumbnail_chained",
      ],
    };
    for (const path of ["/processes", "/processes/"]) {
      const res = await d.api(path, { auth: false });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(expected);
    }
  });

  test("an unknown process is a 400 Invalid process", async () => {
    await expectError(await d.api("/processes/nope", { auth: false }), 400, "Invalid process 'nope'");
    await expectError(
      await d.api("/processes/..%2Fsleep", { auth: false }),
      400,
      "Invalid process '../sleep'",
    );
  });

  test("a process without a doc comment (or with an empty one) is a 404", async () => {
    await expectError(await d.api("/processes/nodoc", { auth: false }), 404, "nodoc", "no documentation");
    await expectError(await d.api("/processes/blankdoc", { auth: false }), 404, "blankdoc");
  });

  test("a built-in process's doc is the doc comment of its main", async () => {
    const res = await d.api("/processes/api_test", { auth: false });
    expect(res.status).toBe(200);
    const { doc } = (await res.json()) as { doc: string };
    expect(doc.startsWith("Process 'api_test' documentation:\n\nTest the PixyzScheduler API")).toBe(true);
  });

  test("a process added by PROCESS_DIR is documented and runs", async () => {
    const res = await d.api("/processes/extra", { auth: false });
    expect(await res.json()).toEqual({
      doc: "Process 'extra' documentation:\n\nAn extra process from PROCESS_DIR.\n\nReturns its params.",
    });
    const sent = await submitOk({ process: "extra", params: '{"n": 1}' });
    expect(await d.waitFor(sent.uuid as string)).toMatchObject({
      status: "SUCCESS",
      result: { extra: { n: 1 } },
    });
  });

  test("PROCESS_DIR overrides a built-in process by name: its doc and its script", async () => {
    const { doc } = (await (await d.api("/processes/sleep", { auth: false })).json()) as { doc: string };
    expect(doc).toBe("Process 'sleep' documentation:\n\nMy own sleep, overriding the built-in one.");
    const sent = await submitOk({ process: "sleep", params: '{"duration": 5}' });
    expect(await d.waitFor(sent.uuid as string)).toMatchObject({ status: "SUCCESS", result: { mine: true } });
  });

  test("a file dropped into PROCESS_DIR while the daemon runs is listed at once", async () => {
    const sub = join(processDir, "later.ts");
    writeFileSync(sub, "/** Later. */\nexport function main() { return 2; }");
    try {
      const { processes } = (await (await d.api("/processes", { auth: false })).json()) as {
        processes: string[];
      };
      expect(processes).toContain("later");
    } finally {
      rmSync(sub);
    }
  });
});
