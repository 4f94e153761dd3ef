// The client's errors, each printed as one line `pixyz-scheduler: ...` and mapped to an exit code.
import { EXIT } from "./exit-codes.ts";

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.USAGE);

/** The API answered an error: `<status> <details>` from the original's envelope. */
export class HttpError extends CliError {
  constructor(
    readonly status: number,
    readonly details: string,
  ) {
    super(`${status} ${details}`, EXIT.API_ERROR);
  }

  static async from(res: Response): Promise<HttpError> {
    const text = await res.text().catch(() => "");
    let details = "";
    try {
      const body = JSON.parse(text) as { detail?: unknown };
      if (typeof body.detail === "string") details = body.detail;
      else if (body.detail && typeof body.detail === "object") {
        const d = body.detail as { details?: unknown; message?: unknown };
        details = String(d.details ?? d.message ?? "");
      }
    } catch {
      details = text.split("\n")[0]?.slice(0, 300) ?? "";
    }
    details ||= res.statusText || "error";
    if (res.status === 401) {
      details +=
        " (pass the token with -t/--token or PIXYZ_TOKEN; on the daemon's machine it is in <data-dir>/api-token)";
    }
    return new HttpError(res.status, details);
  }
}

/** fetch failed before any answer. */
export class ConnectionError extends CliError {
  constructor(url: string, cause: unknown) {
    const code = (cause as { code?: string }).code ?? "";
    const refused = code === "ConnectionRefused" || code === "ECONNREFUSED";
    const reason = refused ? "connection refused" : (cause as Error).message || code || "network error";
    super(
      `cannot connect to ${url}: ${reason}${refused ? " (is the daemon running? set the address with --url or PIXYZ_URL)" : ""}`,
      EXIT.CONNECTION,
    );
  }
}
