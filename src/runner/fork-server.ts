// The Python fork server, daemon side. One warm interpreter (src/sdk/python/forkserver.py) that has
// imported the compatibility package and the harness forks one child per Python job: a job skips
// the interpreter's start-up and those imports, and still runs as a process of its own (its own
// session and process group, folder, environment and log), killed, measured and classified as a
// spawned one (it is a JobProcess to the runner).
//
// Transport. A forked child is the server's child, not the daemon's, so it cannot be handed pipes
// the way Bun.spawn hands a cold job its stdin and fd 3. The daemon serves a unix socket instead
// (mode 0600, under <data>/runtime; each connection must first say its attempt's random token) and
// the server connects one socket per job before the job's child gets it (forked for the order, or
// the spare the server forked ahead, which receives it as a passed fd), so the connection exists
// before the child runs. The child makes that socket both its stdin (JobSpec, then replies) and
// its fd 3 (messages): the harness runs unchanged, and when the daemon dies the socket ends, which
// the harness reads as it reads a cold job's stdin ending: it kills its own group. A socket (not named
// pipes) because it is one object per job both ways, its end is seen by both sides whoever dies,
// and nothing is left to clean up per job.
//
// Control. The server reads fork orders on its stdin and reports on its stdout: each child's pid
// (once it leads its own group: written by the child, or by the server for a spare, which led
// its group before it took the order), and each child's wait status (the server is the
// children's parent and reaps them). The server's stdin ending (a retire, a stop, or the
// daemon's death) makes it kill its children and exit. If the server dies, its running jobs are
// killed (their exit status can no longer be known) and the next job starts a new server.
// Whenever the server cannot fork a job, the job starts cold: no job is lost to the fork server.
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FileSink, Socket, Subprocess, UnixSocketListener } from "bun";
import type { Logger } from "../log/logger.ts";
import { ChannelLines } from "./channel-lines.ts";
import type { JobProcess, ProcessEnd } from "./job-process.ts";
import { killGroup } from "./kill.ts";
import { rssByGroup } from "./process-tree.ts";
import { pythonJobEnv } from "./python.ts";
import type { Runtime } from "./runtime.ts";

/** What the server needs to make a child the job: the same folder, log and environment a cold job gets. */
export interface ForkOrder {
  cwd: string;
  logFile: string;
  env: Record<string, string>;
}

/** The server's reports on its stdout (forkserver.py). */
type Report =
  | { t: "ready" }
  | { t: "forked"; id: number; pid: number }
  | { t: "fork-failed"; id: number; error: string }
  | { t: "exit"; id: number; pid: number; code: number | null; signal: string | null };

/** After a server that died before it was ready (a broken Python), jobs start cold this long. */
const BROKEN_RETRY_MS = 60_000;
/** How long the daemon waits for the jobs of a server that died to be gone after it killed them. */
const ORPHAN_WAIT_MS = 5000;
/**
 * How long after the job's exit the daemon keeps its socket open for a process that left the job's
 * group and holds it (the runner stops reading it after DRAIN_MS anyway).
 */
const LINGER_MS = 5000;
/** A socket whose hello (its token line) is longer than this is not one of ours. */
const MAX_HELLO = 128;
/** Unix socket paths are limited to 108 bytes (sun_path) on Linux. */
const MAX_SOCKET_PATH = 100;

/** One job the server was asked to fork, from the order to its reaping. */
class ForkedJob implements JobProcess {
  pid = 0;
  readonly started = Promise.withResolvers<JobProcess>();
  private readonly ended = Promise.withResolvers<ProcessEnd>();
  private readonly closed = Promise.withResolvers<void>();
  readonly exited = this.ended.promise;
  readonly channel = this.closed.promise;
  readonly output = null;
  private socket: Socket<Connection> | null = null;
  /** Bytes for the job's input not yet taken by the socket (not connected yet, or backpressure). */
  private pending: Uint8Array[] = [];
  private ending = false;
  private done = false;

  constructor(
    readonly id: number,
    readonly token: string,
    private readonly onChunk: (chunk: Uint8Array) => void,
  ) {}

  /** Its socket said its token: from now on it carries the job's input and channel. */
  attach(socket: Socket<Connection>, rest: Uint8Array): void {
    this.socket = socket;
    if (rest.length > 0) this.receive(rest);
    this.flush();
  }

  receive(chunk: Uint8Array): void {
    if (!this.done) this.onChunk(chunk);
  }

  write(text: string): void {
    if (this.ending) throw new Error("the job's input is closed");
    this.pending.push(Buffer.from(text));
    this.flush();
  }

  /**
   * No more input: the job has exited. The socket is not ended from this side: the job's exit can
   * be read (on the control pipe) before its last bytes are (on the socket), and Bun's end() closes
   * the socket once its writes are flushed (no half-close), dropping what was not read yet: a no-op
   * job's result line was lost that way about once in a thousand jobs under load. Its other end
   * closing (the job and its group are gone) says every byte has arrived; one that a process outside
   * the group keeps open is closed a while later.
   */
  end(): void {
    this.ending = true;
    this.pending = [];
    setTimeout(() => {
      if (!this.done) this.socket?.end();
    }, LINGER_MS).unref();
  }

  /** Hands what is pending to the socket, as much as it takes now (the rest on its drain). */
  flush(): void {
    const socket = this.socket;
    if (!socket) return;
    while (this.pending.length > 0) {
      const next = this.pending[0]!;
      const written = socket.write(next);
      if (written < 0) {
        this.pending = []; // the socket is closed: nobody reads it any more
        break;
      }
      if (written < next.length) {
        this.pending[0] = next.subarray(written);
        return;
      }
      this.pending.shift();
    }
  }

  /** The socket closed: every byte the job wrote has been received. */
  socketClosed(): void {
    this.done = true;
    this.closed.resolve();
  }

  forked(pid: number): void {
    this.pid = pid;
    this.started.resolve(this);
  }

  /** The server could not make the job (the caller starts it cold). */
  failed(why: string): void {
    this.done = true;
    this.socket?.end();
    this.closed.resolve();
    this.started.reject(new Error(why));
  }

  exit(end: ProcessEnd): void {
    this.ended.resolve(end);
    // A child always has its socket (the server connected it before the fork), so its close comes;
    // only a socket that never got to the daemon would leave the channel open, and it must not.
    if (!this.socket)
      setTimeout(() => {
        if (!this.socket) this.socketClosed();
      }, 1000).unref();
  }
}

interface Connection {
  job: ForkedJob | null;
  hello: string;
}

interface Server {
  proc: Subprocess<"pipe", "pipe", "inherit">;
  ready: boolean;
  /** Stopped on purpose (idle, daemon stop): its end is not a failure. */
  retiring: boolean;
  /** Forked or being forked, until reaped: by the order's id. */
  jobs: Map<number, ForkedJob>;
}

export class ForkServer {
  private server: Server | null = null;
  private listener: UnixSocketListener<Connection> | null = null;
  private socketPath: string | null = null;
  /** A private folder made for the socket when <data>/runtime is too deep for a socket path. */
  private socketDir: string | null = null;
  /** Jobs waiting for their socket's hello, by token. */
  private readonly byToken = new Map<string, ForkedJob>();
  private nextId = 1;
  private brokenUntil = 0;
  private closed = false;
  private lastActivity = 0;
  private readonly retireTimer: ReturnType<typeof setInterval> | null = null;

  /**
   * @param env the server's environment (pass-through set, node marker): its children show it in
   *   /proc/<pid>/environ, so the restart sweep finds them; their Python environment is the job's.
   * @param idleMs WARM_IDLE: the server is stopped after this long without a Python job (0: kept).
   */
  constructor(
    private readonly runtime: Runtime,
    private readonly env: Record<string, string>,
    private readonly idleMs: number,
    private readonly logger: Logger,
  ) {
    if (idleMs > 0) {
      this.retireTimer = setInterval(() => this.retireIfIdle(), Math.min(idleMs, 5000));
      this.retireTimer.unref();
    }
  }

  /**
   * Forks a child for the job; resolves once it runs in its own process group. Rejects when the
   * server cannot make it now (not startable, died, fork failed): the job then starts cold.
   * `onChunk` receives the job's channel bytes.
   */
  fork(order: ForkOrder, onChunk: (chunk: Uint8Array) => void): Promise<JobProcess> {
    let server: Server;
    try {
      server = this.ensureServer();
    } catch (error) {
      return Promise.reject(error);
    }
    this.lastActivity = Date.now();
    const job = new ForkedJob(this.nextId++, randomBytes(16).toString("hex"), onChunk);
    server.jobs.set(job.id, job);
    this.byToken.set(job.token, job);
    const line = {
      t: "fork",
      id: job.id,
      token: job.token,
      cwd: order.cwd,
      log: order.logFile,
      env: order.env,
    };
    try {
      const stdin = server.proc.stdin as FileSink;
      stdin.write(`${JSON.stringify(line)}\n`);
      // A server that just died fails the job through its end (onServerGone), not through this.
      const flushed = stdin.flush();
      if (flushed instanceof Promise) flushed.catch(() => {});
    } catch (error) {
      this.forget(server, job);
      job.failed(`the fork server's input is closed (${(error as Error).message})`);
    }
    return job.started.promise;
  }

  /** Stops the server (daemon stop): its stdin ends, it kills what it still runs and exits. */
  close(): void {
    this.closed = true;
    if (this.retireTimer) clearInterval(this.retireTimer);
    this.retire();
  }

  private retireIfIdle(): void {
    const server = this.server;
    if (!server || server.jobs.size > 0 || Date.now() - this.lastActivity < this.idleMs) return;
    this.retire();
  }

  private retire(): void {
    const server = this.server;
    this.server = null;
    if (server) {
      server.retiring = true;
      try {
        (server.proc.stdin as FileSink).end();
      } catch {
        // already gone
      }
      // It exits at once on its stdin's end; a stuck one is not kept (while unreaped, its pid is its own).
      setTimeout(() => {
        if (server.proc.exitCode === null && server.proc.signalCode === null) killGroup(server.proc.pid);
      }, 2000).unref();
    }
    this.listener?.stop(true);
    this.listener = null;
    if (this.socketPath) rmSync(this.socketPath, { force: true });
    if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
    this.socketPath = null;
    this.socketDir = null;
  }

  private ensureServer(): Server {
    if (this.closed) throw new Error("the fork server is closed");
    if (this.server) return this.server;
    if (Date.now() < this.brokenUntil) throw new Error("the fork server failed to start a moment ago");
    const interpreter = this.runtime.python.interpreter?.path;
    if (!interpreter) throw new Error("no Python interpreter");
    let proc: Server["proc"];
    try {
      const socketPath = this.listen();
      proc = Bun.spawn([interpreter, "-u", join(this.runtime.python.path, "forkserver.py"), socketPath], {
        cwd: this.runtime.python.path,
        env: { ...this.env, ...pythonJobEnv(this.runtime.python.path) },
        stdio: ["pipe", "pipe", "inherit"],
        // Its own group, away from the daemon's (a terminal's Ctrl-C); its children make their own.
        detached: true,
      });
    } catch (error) {
      this.brokenUntil = Date.now() + BROKEN_RETRY_MS;
      this.logger.warn("the Python fork server could not start: Python jobs start cold for a while", {
        error: (error as Error).message,
      });
      this.retire();
      throw error;
    }
    const server: Server = { proc, ready: false, retiring: false, jobs: new Map() };
    this.server = server;
    const reports = new ChannelLines<Report>(
      (report) => this.onReport(server, report),
      (line) =>
        this.logger.warn("the Python fork server wrote an unexpected line", { line: line.slice(0, 200) }),
    );
    const read = (async () => {
      for await (const chunk of proc.stdout) reports.push(chunk);
      reports.end();
    })();
    // Gone once it exited and every report it (or a child) wrote has been read.
    void Promise.all([proc.exited, read.catch(() => {})]).then(() => this.onServerGone(server));
    this.logger.info("Python fork server started", { pid: proc.pid });
    return server;
  }

  /** The socket the jobs connect to, listening (made once while a server runs). */
  private listen(): string {
    if (this.listener && this.socketPath) return this.socketPath;
    let path = join(this.runtime.python.path, "..", "python-fork.sock");
    if (path.length > MAX_SOCKET_PATH) {
      this.socketDir = mkdtempSync(join(tmpdir(), "pixyz-fork-")); // 0700
      path = join(this.socketDir, "python-fork.sock");
    }
    rmSync(path, { force: true }); // left by a daemon that was killed
    this.listener = Bun.listen<Connection>({
      unix: path,
      socket: {
        open: (socket) => {
          socket.data = { job: null, hello: "" };
        },
        data: (socket, chunk) => this.onData(socket, chunk),
        drain: (socket) => socket.data.job?.flush(),
        close: (socket) => socket.data.job?.socketClosed(),
        error: (socket) => socket.data.job?.socketClosed(),
      },
    });
    // Only the daemon's user may connect (the tokens guard against the rest of that user's processes).
    chmodSync(path, 0o600);
    this.socketPath = path;
    return path;
  }

  /** The first line of a connection is its token; what follows is its job's channel. */
  private onData(socket: Socket<Connection>, chunk: Uint8Array): void {
    const connection = socket.data;
    if (connection.job) {
      connection.job.receive(chunk);
      return;
    }
    const newline = chunk.indexOf(10);
    connection.hello += Buffer.from(newline < 0 ? chunk : chunk.subarray(0, newline)).toString("latin1");
    if (newline < 0) {
      if (connection.hello.length > MAX_HELLO) socket.end();
      return;
    }
    const job = this.byToken.get(connection.hello);
    this.byToken.delete(connection.hello);
    if (!job) {
      socket.end();
      return;
    }
    connection.job = job;
    job.attach(socket, chunk.subarray(newline + 1));
  }

  private onReport(server: Server, report: Report): void {
    if (report.t === "ready") {
      server.ready = true;
      return;
    }
    const job = server.jobs.get(report.id);
    if (!job) return;
    switch (report.t) {
      case "forked":
        job.forked(report.pid);
        return;
      case "fork-failed":
        this.forget(server, job);
        job.failed(`the fork server could not fork the job: ${report.error}`);
        return;
      case "exit":
        this.forget(server, job);
        this.lastActivity = Date.now();
        if (job.pid === 0)
          job.failed(`the forked child ended before it ran the job (${report.code ?? report.signal})`);
        else job.exit({ exitCode: report.code, signal: report.signal });
    }
  }

  private forget(server: Server, job: ForkedJob): void {
    server.jobs.delete(job.id);
    this.byToken.delete(job.token);
  }

  private onServerGone(server: Server): void {
    if (this.server === server) this.server = null;
    if (!server.retiring) {
      const fields = { pid: server.proc.pid, exitCode: server.proc.exitCode, signal: server.proc.signalCode };
      if (server.ready) this.logger.warn("the Python fork server died: its running jobs are killed", fields);
      else {
        this.brokenUntil = Date.now() + BROKEN_RETRY_MS;
        this.logger.warn(
          "the Python fork server could not start: Python jobs start cold for a while",
          fields,
        );
      }
    }
    for (const job of server.jobs.values()) {
      this.forget(server, job);
      if (job.pid === 0) job.failed("the fork server ended before it forked the job");
      else void this.endOrphan(job);
    }
  }

  /**
   * A job whose server died: nobody can reap it for the daemon or tell its exit status, so it is
   * killed (its whole group) and reported as killed once its group is gone.
   */
  private async endOrphan(job: ForkedJob): Promise<void> {
    killGroup(job.pid);
    const deadline = Date.now() + ORPHAN_WAIT_MS;
    while (rssByGroup(new Set([job.pid])).has(job.pid) && Date.now() < deadline) {
      killGroup(job.pid);
      await Bun.sleep(50);
    }
    job.exit({
      exitCode: null,
      signal: "SIGKILL",
      note: "the Python fork server died while the job ran: the job was killed (its own exit status is unknown)",
    });
  }
}
