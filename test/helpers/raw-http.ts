// HTTP/1.1 over a raw TCP socket (Bun.connect to 127.0.0.1), for what fetch cannot send: request
// targets exactly as written (fetch would resolve `..` and re-encode), lying or missing headers,
// bodies cut short, and clients that send a byte at a time.

export interface RawConnection {
  /** Queues bytes; resolves once the kernel took all of them (false when the socket closed first). */
  write(bytes: string | Uint8Array): Promise<boolean>;
  /** Sends a FIN: the server sees the end of the request, the answer can still come back. */
  shutdownWrite(): void;
  /** Closes the socket now. */
  close(): void;
  /** Everything received so far (an interim 100 Continue included). */
  received(): Uint8Array;
  /** Where the final answer starts in `received()` (after any 100 Continue). */
  headStart(): number;
  /** The status of the answer once its status line arrived, else null. */
  status(): number | null;
  /** True until the connection closed (either side). */
  isOpen(): boolean;
  /** Resolves with the time (Date.now()) at which the connection closed. */
  closed: Promise<number>;
  /** Resolves once the headers of an answer arrived (true), or false if the connection closed first. */
  head: Promise<boolean>;
}

const encoder = new TextEncoder();
const HEAD_END = encoder.encode("\r\n\r\n");

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Opens a TCP connection to 127.0.0.1:port. `maxKeep` caps how many received bytes are kept. */
export async function rawConnect(port: number, maxKeep = 256 * 1024): Promise<RawConnection> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let open = true;
  let headSeen = false;
  let headFrom = 0;
  let status: number | null = null;
  let pending: { bytes: Uint8Array; done: (ok: boolean) => void }[] = [];
  let resolveClosed!: (at: number) => void;
  let resolveHead!: (ok: boolean) => void;
  const closed = new Promise<number>((resolve) => {
    resolveClosed = resolve;
  });
  const head = new Promise<boolean>((resolve) => {
    resolveHead = resolve;
  });
  const received = () => {
    const all = new Uint8Array(kept);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return all;
  };
  const onClose = () => {
    if (!open) return;
    open = false;
    for (const p of pending) p.done(false);
    pending = [];
    resolveHead(false);
    resolveClosed(Date.now());
  };
  const flush = (socket: { write(b: Uint8Array): number }) => {
    while (pending.length > 0) {
      const first = pending[0]!;
      const n = socket.write(first.bytes);
      if (n < 0) return onClose();
      if (n < first.bytes.length) {
        first.bytes = first.bytes.subarray(n);
        return;
      }
      pending.shift();
      first.done(true);
    }
  };

  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, data: Uint8Array) {
        if (kept < maxKeep) {
          const part = data.subarray(0, maxKeep - kept);
          chunks.push(new Uint8Array(part));
          kept += part.length;
        }
        // An interim answer (100 Continue) is skipped: the head is the final answer's.
        while (!headSeen) {
          const all = received().subarray(headFrom);
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(new TextDecoder().decode(all.subarray(0, 64)));
          status = m ? Number(m[1]) : null;
          const end = indexOf(all, HEAD_END);
          if (end < 0) break;
          if (status !== null && status >= 100 && status < 200) {
            headFrom += end + HEAD_END.length;
            continue;
          }
          headSeen = true;
          resolveHead(true);
        }
      },
      drain(s) {
        flush(s);
      },
      close() {
        onClose();
      },
      end(s) {
        s.end();
        onClose();
      },
      error() {
        onClose();
      },
    },
  });

  return {
    write(bytes) {
      if (!open) return Promise.resolve(false);
      return new Promise<boolean>((done) => {
        pending.push({ bytes: typeof bytes === "string" ? encoder.encode(bytes) : bytes, done });
        if (pending.length === 1) flush(socket);
      });
    },
    shutdownWrite() {
      if (open) socket.shutdown();
    },
    close() {
      if (open) socket.end();
      onClose();
    },
    received,
    headStart: () => headFrom,
    status: () => status,
    isOpen: () => open,
    closed,
    head,
  };
}

export interface RawAnswer {
  /** The status code, or null when no status line came back. */
  status: number | null;
  /** How the exchange ended: an answer read to its end (or to `maxBody`), the server closing without one, or our timeout. */
  ended: "answered" | "closed" | "timeout";
  /** Headers and the start of the body, as text (latin1). */
  text: string;
  ms: number;
}

/**
 * Sends one request (the bytes exactly as given; add `Connection: close`) and reads the answer
 * until the server closes, `maxBody` bytes arrived, or `timeoutMs` passed. An event stream is
 * read up to its headers only. `halfClose`: send a FIN after the request.
 */
export async function rawRequest(
  port: number,
  request: string | Uint8Array,
  options: { timeoutMs?: number; halfClose?: boolean; maxBody?: number } = {},
): Promise<RawAnswer> {
  const started = performance.now();
  const conn = await rawConnect(port, options.maxBody ?? 256 * 1024);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, options.timeoutMs ?? 10000);
  try {
    await conn.write(request);
    if (options.halfClose) conn.shutdownWrite();
    if (await conn.head) {
      const headText = new TextDecoder("latin1").decode(conn.received().subarray(conn.headStart()));
      const streaming = /\r\ncontent-type:\s*text\/event-stream/i.test(headText);
      if (streaming) conn.close();
      else {
        // Read to the end of the answer (its Content-Length or last chunk), the server's close, or maxBody.
        const cap = options.maxBody ?? 256 * 1024;
        const bodyAt = headText.indexOf("\r\n\r\n") + 4;
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(headText.slice(0, bodyAt));
        const complete = () => {
          const got = conn.received().subarray(conn.headStart());
          if (length) return got.length >= bodyAt + Number(length[1]);
          if (/\r\ntransfer-encoding:\s*chunked/i.test(headText.slice(0, bodyAt)))
            return `\r\n${new TextDecoder("latin1").decode(got.subarray(bodyAt))}`.includes("\r\n0\r\n\r\n");
          return false;
        };
        while (conn.isOpen() && conn.received().length < cap && !complete()) {
          await Promise.race([conn.closed, Bun.sleep(5)]);
        }
        conn.close();
      }
    }
    await conn.closed;
  } finally {
    clearTimeout(timer);
  }
  const status = conn.status();
  return {
    status,
    ended: status !== null ? "answered" : timedOut ? "timeout" : "closed",
    text: new TextDecoder("latin1").decode(conn.received().subarray(conn.headStart())),
    ms: performance.now() - started,
  };
}
