# -*- coding: utf-8 -*-
"""The Python fork server: one warm interpreter that has imported the compatibility package and the
job harness, and forks one child per Python job. Run by the daemon (src/runner/fork-server.ts) as
`python -u forkserver.py <socket>`, with PYTHONPATH set to this folder.

Control pipe, one JSON object per line (each written in one write of less than PIPE_BUF bytes, so
the server's and its children's lines never mix):
- stdin, from the daemon: {"t": "fork", "id", "token", "cwd", "log", "env"}. Its end (the daemon
  stopped it, or died) makes the server kill its children's process groups and exit.
- stdout, to the daemon: {"t": "ready"} once the imports are done; {"t": "forked", "id", "pid"},
  written by the child itself once it leads its own session (a kill of its group can no longer
  miss it); {"t": "fork-failed", "id", "error"}; {"t": "exit", "id", "pid", "code", "signal"} when
  the server reaped the child (it is the children's parent).

Each child connects nothing itself: the server connects the job's socket to the daemon (and says
the attempt's token) before it forks, so the connection exists before the child can run or die.
The child then makes that socket its stdin (the JobSpec, then replies) and its fd 3 (messages),
exactly what the cold harness gets as pipes, and runs the harness's own main().

The server stays single-threaded (no reader threads: fork copies only the calling thread), never
imports a job's script (the child does), and never writes to sys.stdout (whose buffer the children
would inherit); it reads its stdin with os.read for the same reason."""
import gc
import json
import os
import random
import select
import signal
import socket
import sys

import harness  # the cold harness's module: the child runs its main()

# What every job imports: paid once here instead of once per job.
import celery  # noqa: F401
import celery.canvas  # noqa: F401
import celery.result  # noqa: F401
import pixyz_worker  # noqa: F401
import pixyz_worker._backend  # noqa: F401
import pixyz_worker._run as _run
import pixyz_worker.script  # noqa: F401

# The server's environment once its imports are done: what each child starts with.
SERVER_ENV = {}

CONTROL_IN = 0
CONTROL_OUT = 1
CHANNEL_FD = 3
# The exit code of a child that could not become its job (no log, no folder).
SETUP_FAILED = 70


def send(message):
    """One control line, in one write (its error text is cut so the line stays short)."""
    data = (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")
    os.write(CONTROL_OUT, data)


def close_inherited_fds():
    """Closes every fd above 3 the child still has from the server (anything a pre-imported module
    opened), as a fresh interpreter has none."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > CHANNEL_FD:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own fd, already closed


def become_job(order, sock_fd, wakeup_fds):
    """In the forked child: the job's session, fds, folder and environment, then the harness.
    Never returns (os._exit)."""
    code = SETUP_FAILED
    try:
        os.setsid()  # its own session and process group (pgid = its pid), as a spawned job's
        # The signals as a fresh interpreter has them (the server's SIGCHLD wake-up is not the job's).
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in wakeup_fds:
            os.close(fd)
        # Only now the daemon learns the pid: a kill of the group cannot come before the group.
        send({"t": "forked", "id": order["id"], "pid": os.getpid()})
        log = os.open(order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)  # replaces the control pipe: only the server writes to the daemon now
        os.dup2(log, 2)
        os.close(log)
        os.dup2(sock_fd, 0)  # replaces the server's control input
        os.dup2(sock_fd, CHANNEL_FD)
        os.close(sock_fd)
        close_inherited_fds()
        os.chdir(order["cwd"])
        # The job's environment, the same variables a cold job gets (os.environ writes through to
        # the C environment, so programs the script starts inherit it). Only what differs from the
        # server's is written: rewriting every variable cost a job 0.5 ms of CPU, mostly in
        # copy-on-write faults of the pages the writes touched.
        job_env = order["env"]
        for key in SERVER_ENV:
            if key not in job_env:
                del os.environ[key]
        for key, value in job_env.items():
            if SERVER_ENV.get(key) != value:
                os.environ[key] = value
        # random re-seeds itself in a forked child (its own os.register_at_fork hook); said again
        # here so two jobs never share a sequence, whatever the Python.
        random.seed()
        code = harness.main(forked=True)
    except BaseException as error:  # noqa: B902 - the child must never return into the server's loop
        try:
            os.write(2, ("pixyz-scheduler fork server: the job could not start: %r\n" % (error,)).encode("utf-8"))
        except OSError:
            pass
    harness._exit(code if isinstance(code, int) else 1)


def fork_job(order, socket_path, wakeup_fds, children):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
        sock.sendall((order["token"] + "\n").encode("ascii"))
        pid = os.fork()
    except OSError as error:
        sock.close()
        send({"t": "fork-failed", "id": order["id"], "error": str(error)[:500]})
        return
    if pid == 0:
        become_job(order, sock.detach(), wakeup_fds)
    sock.close()
    children[pid] = order["id"]


def exit_report(job_id, pid, status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "SIG%d" % number
        return {"t": "exit", "id": job_id, "pid": pid, "code": None, "signal": name}
    return {"t": "exit", "id": job_id, "pid": pid, "code": os.WEXITSTATUS(status), "signal": None}


def report_exits(children):
    """Reaps every ended child and reports its wait status."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        job_id = children.pop(pid, None)
        if job_id is not None:
            send(exit_report(job_id, pid, status))


def kill_children(children):
    """The server's end: every job still running goes with it (a job also sees its socket end when
    the daemon died), reaped and reported while someone may still read."""
    for pid in list(children):
        for kill in (os.killpg, os.kill):  # os.kill: a child not yet in its own group
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass
    for pid, job_id in list(children.items()):
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            continue
        try:
            send(exit_report(job_id, pid, status))
        except OSError:
            pass  # the daemon is gone


def main():
    socket_path = sys.argv[1]
    _run.hide_from_tracebacks(__file__)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    # A handler (not SIG_DFL, which is not delivered) so SIGCHLD wakes the loop through the pipe.
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children = {}
    pending = b""
    # What is imported by now is shared with every child: kept out of the collector's passes, so a
    # child's collections do not write to (and copy) those pages.
    gc.freeze()
    SERVER_ENV.update(os.environ)
    send({"t": "ready"})
    try:
        while True:
            readable, _, _ = select.select([CONTROL_IN, wake_r], [], [])
            if wake_r in readable:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            report_exits(children)
            if CONTROL_IN not in readable:
                continue
            data = os.read(CONTROL_IN, 65536)
            if not data:
                break  # the daemon stopped the server, or died
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if not line.strip():
                    continue
                order = json.loads(line.decode("utf-8"))  # the daemon's own lines: no error to expect
                if order.get("t") == "fork":
                    fork_job(order, socket_path, (wake_r, wake_w), children)
    except OSError:
        pass  # the daemon is gone (a broken control pipe): nobody to report to
    kill_children(children)
    return 0


if __name__ == "__main__":
    sys.exit(main())
