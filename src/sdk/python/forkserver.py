# -*- coding: utf-8 -*-
"""The Python fork server: one warm interpreter that has imported the compatibility package and the
job harness, and forks one child per Python job. Run by the daemon (src/runner/fork-server.ts) as
`python -u forkserver.py <socket>`, with PYTHONPATH set to this folder.

Control pipe, one JSON object per line (each written in one write of less than PIPE_BUF bytes, so
the server's and its children's lines never mix):
- stdin, from the daemon: {"t": "fork", "id", "token", "cwd", "log", "env"}. Its end (the daemon
  stopped it, or died) makes the server kill its children's process groups and exit.
- stdout, to the daemon: {"t": "ready"} once the imports are done; {"t": "forked", "id", "pid"},
  once the child leads its own session (a kill of its group can no longer miss it): written by a
  child forked for the order itself, or by the server for a spare (below), which did so long ago;
  {"t": "fork-failed", "id", "error"}; {"t": "exit", "id", "pid", "code", "signal"} when the server
  reaped the child (it is the children's parent).

Each child connects nothing itself: the server connects the job's socket to the daemon (and says
the attempt's token) before the child gets it, so the connection exists before the child can run
or die. The child then makes that socket its stdin (the JobSpec, then replies) and its fd 3
(messages), exactly what the cold harness gets as pipes, and runs the harness's own main().

A spare: one child forked ahead (when the server is ready, and after each job's end) that has left
the server and waits for an order; the job's socket reaches it as a passed file descriptor. An
order finds it ready and skips the fork and that setup; otherwise the order forks its own child.

The server stays single-threaded (no reader threads: fork copies only the calling thread), never
imports a job's script (the child does), and never writes to sys.stdout (whose buffer the children
would inherit); it reads its stdin with os.read for the same reason."""
import array
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
# What a spare child says once it leads its own group and waits for an order.
READY = b"r"


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


def leave_server(wakeup_fds):
    """In a forked child, what every job needs before it is known: its own session and process
    group (pgid = its pid, as a spawned job's), and the signals as a fresh interpreter has them (the
    server's SIGCHLD wake-up is not the job's)."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in wakeup_fds:
        os.close(fd)


def become_job(order, sock_fd, wakeup_fds):
    """In a child forked for this order: leaves the server, then takes the job. Never returns."""
    code = SETUP_FAILED
    try:
        leave_server(wakeup_fds)
        # Only now the daemon learns the pid: a kill of the group cannot come before the group.
        send({"t": "forked", "id": order["id"], "pid": os.getpid()})
        code = take_job(order, sock_fd)
    except BaseException as error:  # noqa: B902 - the child must never return into the server's loop
        report_setup_error(error)
    harness._exit(code if isinstance(code, int) else 1)


def report_setup_error(error):
    try:
        os.write(2, ("pixyz-scheduler fork server: the job could not start: %r\n" % (error,)).encode("utf-8"))
    except OSError:
        pass


def take_job(order, sock_fd):
    """In a child that leads its own group: the job's fds, folder and environment, then the
    harness. Returns the job's exit code."""
    log = os.open(order["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)  # replaces the control pipe (or /dev/null): only the server writes to the daemon now
    os.dup2(log, 2)
    os.close(log)
    os.dup2(sock_fd, 0)  # replaces the server's control input (or /dev/null)
    os.dup2(sock_fd, CHANNEL_FD)
    if sock_fd not in (0, CHANNEL_FD):  # a spare receives it as the lowest free fd: 3 itself
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
    return harness.main(forked=True)


def job_socket(order, socket_path):
    """The job's connection to the daemon, its token said: it exists before the job can run or die."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
        sock.sendall((order["token"] + "\n").encode("ascii"))
    except OSError:
        sock.close()
        raise
    return sock


def fork_job(order, socket_path, wakeup_fds, children, spare):
    """Hands the order to the spare child when there is one (its fork and its setup are already
    done: they are off the job's path), else forks a child for it."""
    try:
        sock = job_socket(order, socket_path)
    except OSError as error:
        send({"t": "fork-failed", "id": order["id"], "error": str(error)[:500]})
        return
    try:
        pid = spare.hand(order, sock)
        handed = pid is not None
        if not handed:
            pid = os.fork()
            if pid == 0:
                become_job(order, sock.detach(), wakeup_fds)
    except OSError as error:
        send({"t": "fork-failed", "id": order["id"], "error": str(error)[:500]})
        return
    finally:
        sock.close()
    # A child of the server from now on: reaped and reported, and killed with the server.
    children[pid] = order["id"]
    if handed:
        # It leads its own group already: the daemon may kill it from now on. (A child forked for
        # the order says so itself once it does.)
        send({"t": "forked", "id": order["id"], "pid": pid})


class Spare:
    """At most one child forked ahead of its job: it has left the server (own session, fresh
    signals) and waits on a private socket for an order and the job's socket (passed as a file
    descriptor). A job handed to it starts without the fork and that setup on its path. A spare is
    forked when the server is ready and after each job's end; a spare that dies while it waits is
    replaced after the next job's end (never at once: a spare that cannot live must not loop)."""

    def __init__(self, wakeup_fds):
        self.wakeup_fds = wakeup_fds
        self.pid = None
        self.sock = None

    def make(self):
        if self.pid is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return  # the next order forks its own child
        if pid == 0:
            ours.close()
            wait_as_spare(theirs, self.wakeup_fds)
        theirs.close()
        self.pid, self.sock = pid, ours

    def hand(self, order, sock):
        """Gives the order to the spare; its pid, or None when there is no spare ready: none, or one
        that has not said it leads its own group yet (kept for the next order), or one gone."""
        if self.pid is None or not self.said_ready():
            return None
        pid, ours = self.pid, self.sock
        self.pid = self.sock = None
        try:
            data = json.dumps(order, separators=(",", ":")).encode("utf-8")
            ours.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [sock.fileno()]))])
        except OSError:
            kill_quietly(pid)  # a spare that cannot take its order is of no use; reaped as any child
            return None
        finally:
            ours.close()
        return pid

    def said_ready(self):
        try:
            said = self.sock.recv(1, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            said = b""
        if said != READY:
            self.close()  # gone, or not saying what a spare says: of no use
            return False
        return True

    def reaped(self, pid):
        """A child ended: if it was the spare (killed while it waited), there is none any more."""
        if pid == self.pid:
            self.sock.close()
            self.pid = self.sock = None

    def close(self):
        """Kills and reaps the waiting spare, if any (the server is ending)."""
        if self.pid is not None:
            kill_quietly(self.pid)
            self.sock.close()
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.pid = self.sock = None


def wait_as_spare(sock, wakeup_fds):
    """In the spare child: leaves the server, then waits for its order. Never returns."""
    code = SETUP_FAILED
    try:
        leave_server(wakeup_fds)
        # The control pipes are the server's: a spare keeps neither end of them open.
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        try:
            sock.send(READY)  # only now may the server give out this pid: its group exists
        except OSError:
            harness._exit(0)  # the server retired this spare before it was ready: no job, no noise
        fds = array.array("i")
        data, ancillary, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if not data:
            harness._exit(0)  # the server retired this spare (or is gone): no job
        if len(fds) != 1:
            raise OSError("the order came without the job's socket")
        sock.close()
        code = take_job(json.loads(data.decode("utf-8")), fds[0])
    except BaseException as error:  # noqa: B902 - the child must never return into the server's loop
        report_setup_error(error)
    harness._exit(code if isinstance(code, int) else 1)


def kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def exit_report(job_id, pid, status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "SIG%d" % number
        return {"t": "exit", "id": job_id, "pid": pid, "code": None, "signal": name}
    return {"t": "exit", "id": job_id, "pid": pid, "code": os.WEXITSTATUS(status), "signal": None}


def report_exits(children, spare):
    """Reaps every ended child and reports the wait status of each job's; whether a job's was."""
    jobs_ended = False
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return jobs_ended
        if pid == 0:
            return jobs_ended
        spare.reaped(pid)
        job_id = children.pop(pid, None)
        if job_id is not None:
            send(exit_report(job_id, pid, status))
            jobs_ended = True


def kill_children(children, spare):
    """The server's end: every job still running goes with it (a job also sees its socket end when
    the daemon died), reaped and reported while someone may still read; the spare too."""
    spare.close()
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
    spare = Spare((wake_r, wake_w))
    send({"t": "ready"})
    spare.make()
    try:
        while True:
            readable, _, _ = select.select([CONTROL_IN, wake_r], [], [])
            if wake_r in readable:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
            if report_exits(children, spare):
                # After a job, not after an order: a fork beside a job that starts slowed the job
                # more than the spare saved it (idle latency 44-49 ms against 31-40 without spares,
                # 24-28 ms with them made here).
                spare.make()
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
                    fork_job(order, socket_path, (wake_r, wake_w), children, spare)
    except OSError:
        pass  # the daemon is gone (a broken control pipe): nobody to report to
    kill_children(children, spare)
    return 0


if __name__ == "__main__":
    sys.exit(main())
