// Signed requests to a peer. Every request carries the sender's node id, a timestamp and the body's
// digest, signed with PEER_SECRET (signing.ts).
import { sha256Hex, signRequest } from "./signing.ts";

export interface PeerClientOptions {
  secret: string;
  nodeId: string;
  /** Per-request deadline. */
  timeoutMs?: number;
}

export class PeerClient {
  constructor(private readonly options: PeerClientOptions) {}

  /** A signed request to `baseUrl + path`; the body, when given, is JSON. */
  async send(
    baseUrl: string,
    method: string,
    path: string,
    body?: unknown,
    timeoutMs?: number,
  ): Promise<Response> {
    const text = body === undefined ? "" : JSON.stringify(body);
    const headers = this.sign(method, path, sha256Hex(text));
    return fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : text,
      signal: AbortSignal.timeout(timeoutMs ?? this.options.timeoutMs ?? 5000),
    });
  }

  /** A signed request whose body is raw bytes (a log chunk), with their digest in the signature. */
  async sendBytes(
    baseUrl: string,
    method: string,
    path: string,
    bytes: Uint8Array,
    timeoutMs = 60_000,
  ): Promise<Response> {
    const headers = this.sign(method, path, sha256Hex(bytes));
    return fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...headers, "content-type": "application/octet-stream" },
      body: bytes,
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  /**
   * PUTs a file, streamed from disk (never whole in memory); `sha256` (computed beforehand) is signed,
   * and the receiver checks the bytes it stores against it.
   */
  async sendFile(
    baseUrl: string,
    path: string,
    filePath: string,
    sha256: string,
    timeoutMs = 3_600_000,
  ): Promise<Response> {
    return fetch(`${baseUrl}${path}`, {
      method: "PUT",
      headers: { ...this.sign("PUT", path, sha256), "content-type": "application/octet-stream" },
      body: Bun.file(filePath),
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  private sign(method: string, path: string, bodySha256: string): Record<string, string> {
    return signRequest(this.options.secret, {
      method,
      pathAndQuery: path,
      bodySha256,
      node: this.options.nodeId,
      now: Date.now(),
    });
  }
}
