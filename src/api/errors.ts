// The original's error envelope: {"detail": {"code": 400, "message": "Bad Request", "details": "..."}}.
// Every error the API answers goes through here, validation included (400, never 422).
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { isDiskFull } from "../storage/disk-guard.ts";
import { StorageError } from "../storage/errors.ts";

const MESSAGES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  413: "Payload Too Large",
  416: "Range Not Satisfiable",
  425: "Too early",
  500: "Internal Server Error",
  503: "Service Unavailable",
  507: "Insufficient Storage",
};

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly details: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(details);
  }
}

export function envelope(status: number, details: string) {
  return { detail: { code: status, message: MESSAGES[status] ?? "Error", details } };
}

export function errorResponse(c: Context, error: ApiError): Response {
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  return c.json(envelope(error.status, error.details), error.status);
}

export const badRequest = (details: string) => new ApiError(400, details);
export const notFound = (details: string) => new ApiError(404, details);

const STORAGE_STATUS = { invalid: 400, timeout: 408, "too-large": 413, "no-space": 507 } as const;

/** The API error for an error thrown below the API, when it is one a client can act on. */
export function clientError(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error instanceof StorageError) {
    // A stalled upload's connection still owes the rest of its body: close it rather than wait.
    const headers: Record<string, string> = error.kind === "timeout" ? { Connection: "close" } : {};
    return new ApiError(STORAGE_STATUS[error.kind], error.message, headers);
  }
  // A write the disk could not take (the store's included): nothing was half-done, try again later.
  if (isDiskFull(error))
    return new ApiError(
      507,
      "The server's data disk is full; nothing was changed. Try again once space is freed",
    );
  return null;
}
