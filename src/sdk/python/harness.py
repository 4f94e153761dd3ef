# -*- coding: utf-8 -*-
"""The child side of a Python job, run as `python -u harness.py` with PYTHONPATH set to this folder
(a cold job), or imported by forkserver.py, whose forked children call main() (stdin and fd 3 are
then a socket instead of two pipes).

Reads its JobSpec (one JSON line) on stdin, runs the script's entrypoint as the original worker
did (`entry(pc, pc['params'])`), and reports progress, child-job requests and the result or the
error as JSON lines on fd 3; the daemon's replies to requests come on stdin after the JobSpec."""
import json
import os
import signal
import sys


def _exit(code):
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        # Like the TS harness's process.exit(): threads the script left running do not hold the job.
        os._exit(code)


def main(forked=False):
    """Runs the job; `forked`: called in a child of the fork server (no watch for the daemon's death:
    the server kills its children when it is gone)."""
    stdin = sys.stdin.buffer
    line = stdin.readline()
    if not line.strip():
        sys.stderr.write("pixyz-scheduler harness: no job spec on stdin\n")
        return 2
    spec = json.loads(line.decode("utf-8"))
    try:
        os.set_inheritable(3, False)  # programs the script starts do not get the channel
    except OSError:
        pass

    from pixyz_worker import _backend, _run

    _run.hide_from_tracebacks(__file__)
    channel = _backend.DaemonChannel(_backend.CHANNEL_FD)
    channel.start_reader(stdin, on_orphaned=lambda: os.killpg(0, signal.SIGKILL), lazily=forked)
    _backend.set_backend(channel, script=os.path.abspath(spec["script"]))

    def on_sigterm(signum, frame):
        # Cancel or time limit: unwind the script (its finally/with blocks run); SIGKILL follows.
        raise SystemExit("the job was cancelled or reached its time limit")

    signal.signal(signal.SIGTERM, on_sigterm)
    sys.argv = [spec["script"]]
    try:
        value = _run.run_job(spec, channel, top=True)
    except BaseException as error:  # noqa: B902 - SystemExit and KeyboardInterrupt are the script's error too
        described = _run.describe(error, sys.exc_info()[2])
        if os.environ.get("PIXYZ_LOCAL") != "1":
            # As Python does for an uncaught exception: the traceback goes to the job's log too
            # (`pixyz-scheduler run` prints it itself).
            try:
                sys.stderr.write(described["stack"] + "\n")
                sys.stderr.flush()
            except Exception:  # noqa: BLE001 - a closed stderr must not lose the error report
                pass
        channel.send(dict(t="error", **described))
        return 1
    try:
        line = '{"t":"result","value":%s}\n' % _run.dumps(value)
    except (TypeError, ValueError) as error:
        message = "The value returned by %s cannot be stored as JSON: %s" % (spec["entrypoint"], error)
        channel.send({"t": "error", "name": "ResultError", "message": message, "stack": "ResultError: " + message})
        return 1
    channel.send_raw(line.encode("utf-8"))
    return 0


if __name__ == "__main__":
    _exit(main())
