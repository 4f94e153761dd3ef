# -*- coding: utf-8 -*-
"""How the compatibility package talks to whoever runs the job.

- Under the daemon (or `pixyz-scheduler run`), the job harness opens a DaemonChannel: JSON lines
  on fd 3 (progress, spawn and wait requests), replies as JSON lines on stdin.
- With no daemon (`python3 script.py` and LocalPixyzTask.from_commandline), an InProcessBackend
  prints progress and runs child jobs synchronously in this process, as the original's local mode.
"""
import json
import os
import select
import sys
import threading
import time
import uuid

CHANNEL_FD = 3
ENVELOPE_KEY = "__pixyz_task__"

_backend = None
_current_script = None


def now_ms():
    return int(time.time() * 1000)


class ChannelError(RuntimeError):
    """The daemon refused a request (an invalid child job, an unknown job id, ...)."""


class DaemonChannel(object):
    local = False

    def __init__(self, fd=CHANNEL_FD):
        self.fd = fd
        self._write_lock = threading.Lock()
        self._lock = threading.Lock()
        self._next_req = 1
        self._pending = {}
        self._closed = None
        self._start_reader = None

    def send(self, message):
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")
        self.send_raw(data)

    def send_raw(self, data):
        with self._write_lock:
            view = memoryview(data)
            while len(view) > 0:
                try:
                    written = os.write(self.fd, view)
                except BlockingIOError:
                    select.select([], [self.fd], [])
                    continue
                except InterruptedError:
                    continue
                view = view[written:]

    def start_reader(self, stream, on_orphaned=None, lazily=False):
        """Reads the replies (JSON lines after the JobSpec line) on a daemon thread; calls
        `on_orphaned` when stdin ends. With `lazily`, the thread starts with the first request: a
        forked job needs no watch on stdin for the daemon's death (the fork server kills its
        children when the daemon is gone), and a thread costs a job about 1 ms of CPU."""

        def read():
            try:
                for line in iter(stream.readline, b""):
                    if not line.strip():
                        continue
                    try:
                        reply = json.loads(line.decode("utf-8"))
                    except ValueError:
                        continue
                    self._settle(reply.get("req"), reply)
            finally:
                # The daemon holds stdin open until the job ends: its end means the daemon died.
                # The job's whole process group goes (the daemon starts each job as a group leader),
                # so an interrupted attempt never finishes beside the one a restarted daemon runs.
                if on_orphaned is not None:
                    on_orphaned()
                with self._lock:
                    self._closed = "the daemon closed the channel"
                    waiting = list(self._pending.items())
                    self._pending.clear()
                for req, slot in waiting:
                    slot[1] = {"ok": False, "error": self._closed}
                    slot[0].set()

        def start():
            threading.Thread(target=read, name="pixyz-channel", daemon=True).start()

        if lazily:
            self._start_reader = start
        else:
            start()

    def _settle(self, req, reply):
        with self._lock:
            slot = self._pending.pop(req, None)
        if slot is not None:
            slot[1] = reply
            slot[0].set()

    def request(self, message):
        with self._lock:
            start, self._start_reader = self._start_reader, None
        if start is not None:
            start()  # a lazy reader: it starts before the first request goes out, to read its reply
        with self._lock:
            if self._closed:
                raise ChannelError(self._closed)
            req = self._next_req
            self._next_req += 1
            slot = [threading.Event(), None]
            self._pending[req] = slot
        body = dict(message)
        body["req"] = req
        self.send(body)
        # A plain wait() is interruptible by signals (SIGTERM: cancel or time limit).
        while not slot[0].wait(3600):
            pass
        reply = slot[1]
        if not reply.get("ok"):
            raise ChannelError(reply.get("error") or "the request was refused")
        return reply.get("value")

    def spawn(self, job):
        return self.request({"t": "spawn", "job": job})

    def wait(self, ids, timeout=None):
        """The outcomes of the jobs `ids`, once they have all ended; with `timeout` (seconds), the
        daemon answers by then at the latest, with the status of those still going (0: at once)."""
        if not ids:
            return []
        message = {"t": "wait", "ids": list(ids)}
        ms = float(timeout) * 1000 if timeout is not None else None
        if ms is not None and ms < 2 ** 31 - 1:  # longer (or NaN): as good as no timeout
            message["timeoutMs"] = max(0, int(round(ms)))
        return self.request(message)

    # progress
    def total(self, n):
        self.send({"t": "total", "n": n})

    def next(self, info, label):
        self.send({"t": "next", "info": info, "at": now_ms()})

    def stop(self):
        self.send({"t": "stop", "at": now_ms()})


class InProcessBackend(object):
    """No daemon: progress is printed, child jobs run at once, one after the other, in this process."""

    local = True

    def __init__(self, input_file=None, input_dir=None, output_dir=None):
        self.input_file = input_file
        self.input_dir = input_dir
        self.output_dir = output_dir
        self.outcomes = {}

    def total(self, n):
        pass

    def next(self, info, label):
        print(label, flush=True)

    def stop(self):
        pass

    def spawn(self, job):
        from pixyz_worker import _run

        job_id = str(uuid.uuid4())
        script = _current_script
        if job.get("process"):
            raise ChannelError(
                "process '%s': child jobs of a registered process need the daemon or `pixyz-scheduler run`"
                % job["process"]
            )
        spec = {
            "jobId": job_id,
            "attempt": 1,
            "queue": job.get("queue") or "cpu",
            "retry": 0,
            "script": script,
            "entrypoint": job.get("entrypoint") or "main",
            "params": job.get("params"),
            "inputFile": self.input_file,
            "inputArchive": None,
            "inputDir": self.input_dir or os.getcwd(),
            "outputDir": self.output_dir or os.getcwd(),
        }
        ran = {}
        try:
            value = _run.run_job(spec, self, ran=ran)
            outcome = {"id": job_id, "status": "SUCCESS", "result": _run.to_json_value(value), "error": None}
        except Exception as error:  # the child's failure is its outcome, as a job's would be
            outcome = {
                "id": job_id,
                "status": "FAILURE",
                "result": None,
                "error": _run.describe(error, sys.exc_info()[2])["stack"],
            }
        if "pc" in ran:
            outcome.update(_run.task_meta(ran["pc"], name=job.get("name")))
        self.outcomes[job_id] = outcome
        return job_id

    def wait(self, ids, timeout=None):
        missing = [i for i in ids if i not in self.outcomes]
        if missing:
            raise ChannelError("Job '%s' does not exist" % missing[0])
        return [self.outcomes[i] for i in ids]


def set_backend(backend, script=None):
    global _backend, _current_script
    _backend = backend
    if script is not None:
        _current_script = script


def get_backend():
    global _backend
    if _backend is None:
        _backend = InProcessBackend()
    return _backend


def current_script():
    return _current_script
