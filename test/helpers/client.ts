// The small API client every test daemon offers (in-process or in its own process): requests with
// the test token, multipart submissions, and waiting for a job to reach a status.
export const TOKEN = "test-token";

export interface TestClient {
  /** fetch against the daemon, with the API token unless `auth: false`. */
  api(path: string, init?: RequestInit & { auth?: boolean }): Promise<Response>;
  /** POST /jobs with these form fields; File values are uploads. */
  submit(fields: Record<string, string | File>): Promise<Response>;
  /** Polls /jobs/{uuid}/details until the job reaches one of `statuses` (default: terminal). */
  waitFor(uuid: string, statuses?: string[], timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** `describe` adds context (e.g. the daemon's log) to a wait that timed out. */
export function testClient(
  url: string,
  defaultTimeoutMs: number,
  describe: () => string = () => "",
): TestClient {
  const api = (path: string, init: RequestInit & { auth?: boolean } = {}) => {
    const headers = new Headers(init.headers);
    if (init.auth !== false) headers.set("x-api-key", TOKEN);
    return fetch(`${url}${path}`, { ...init, headers });
  };
  return {
    api,
    submit(fields) {
      const form = new FormData();
      for (const [key, value] of Object.entries(fields)) form.append(key, value);
      return api("/jobs", { method: "POST", body: form });
    },
    async waitFor(uuid, statuses = ["SUCCESS", "FAILURE", "REVOKED"], timeoutMs = defaultTimeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const body = (await (await api(`/jobs/${uuid}/details`)).json()) as Record<string, unknown>;
        if (statuses.includes(body.status as string)) return body;
        if (Date.now() > deadline)
          throw new Error(`job ${uuid} still ${body.status} after ${timeoutMs} ms${describe()}`);
        await Bun.sleep(25);
      }
    },
  };
}
