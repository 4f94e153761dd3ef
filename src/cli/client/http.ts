// The client's HTTP access to the daemon: the base URL, the x-api-key header, and API errors
// turned into one-line errors (HttpError, ConnectionError).
import { ConnectionError, HttpError } from "./errors.ts";

export interface RequestOptions extends RequestInit {
  /** Statuses returned to the caller instead of thrown (e.g. 425 for the archive). */
  accept?: number[];
}

export class ApiClient {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    readonly token: string | null,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  async request(path: string, options: RequestOptions = {}): Promise<Response> {
    const { accept = [], ...init } = options;
    const headers = new Headers(init.headers);
    if (this.token !== null) headers.set("x-api-key", this.token);
    let res: Response;
    try {
      res = await fetch(this.url(path), { ...init, headers });
    } catch (error) {
      if ((error as Error).name === "AbortError") throw error;
      throw new ConnectionError(this.baseUrl, error);
    }
    if (!res.ok && !accept.includes(res.status)) throw await HttpError.from(res);
    return res;
  }

  async json<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.request(path, options);
    return (await res.json()) as T;
  }
}

/** One path segment per part of `path`, each percent-encoded ('/' kept as the separator). */
export function encodePath(path: string): string {
  return path
    .split("/")
    .map((part) => encodeURIComponent(part))
    .join("/");
}
