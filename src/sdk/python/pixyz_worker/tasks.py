# -*- coding: utf-8 -*-
"""pixyz_execute: the original's Celery task that runs a script's entrypoint, here a child job.

pixyz_execute.s(params, pc) / .s(pc=pc) makes a signature; .set(queue=..., time_limit=...,
priority=...) routes it; .apply_async() / .delay(), or a chain / group / chord, start it. The
child runs pc['entrypoint'] of the same script (or of the process named by pc['script'] when it
names another file) on the signature's queue; without a queue, the task's default queue 'gpu', as
in the original."""
import os
import time

from pixyz_worker import _backend
from pixyz_worker._run import ENVELOPE_KEY, serialize_pc
from pixyz_worker.pc import ProgramContext

__all__ = ["pixyz_execute", "sleep", "Task"]

DEFAULT_QUEUE = "gpu"


class Task(object):
    def __init__(self, name, queue=DEFAULT_QUEUE, body=None):
        self.name = name
        self.queue = queue
        self._body = body

    def s(self, *args, **kwargs):
        from celery.canvas import Signature

        return Signature(self, args, kwargs)

    def si(self, *args, **kwargs):
        from celery.canvas import Signature

        return Signature(self, args, kwargs, immutable=True)

    def signature(self, args=None, kwargs=None, **options):
        from celery.canvas import Signature

        return Signature(self, args, kwargs, options)

    subtask = signature

    def apply_async(self, args=None, kwargs=None, **options):
        return self.signature(args, kwargs).apply_async(**options)

    def chunks(self, it, n):
        """Celery's task.chunks(it, n): the calls task(*args) for each args of `it`, n per child job
        (a group of them); .get() gives one list of values per chunk."""
        from celery.canvas import chunks

        return chunks(self.s(), it, n)

    def starmap(self, it):
        """task(*args) for each args of `it`, all in one child job; its value is the list of theirs."""
        from celery.canvas import xstarmap

        return xstarmap(self.s(), it)

    def map(self, it):
        """task(arg) for each arg of `it`, all in one child job; its value is the list of theirs."""
        from celery.canvas import xmap

        return xmap(self.s(), it)

    def delay(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def __call__(self, *args, **kwargs):
        if self._body is None:
            raise NotImplementedError("%s cannot be called directly: use .apply_async()" % self.name)
        return self._body(*args, **kwargs)

    def __repr__(self):
        return "<@task: %s>" % self.name


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


class _PixyzExecute(Task):
    @staticmethod
    def _call_of(positional, kwargs):
        """(params, pc) of one call: pixyz_execute(params, pc), .s(params, pc) or .s(pc=pc)."""
        params = positional[0] if len(positional) >= 1 else kwargs.get("params")
        pc = kwargs.get("pc") if "pc" in kwargs else (positional[1] if len(positional) >= 2 else None)
        if pc is None:
            pc = ProgramContext()
        elif not isinstance(pc, ProgramContext):
            pc = ProgramContext(**pc)
        return params, pc

    def _job(self, pc, options, envelope):
        """The child job for `pc`'s entrypoint: the same script, or the process pc['script'] names."""
        job = {"entrypoint": pc.get("entrypoint") or "main", "queue": options.get("queue") or self.queue}
        script = pc.get("script")
        current = _backend.current_script()
        if script and current and not _same_file(script, current):
            job["process"] = os.path.splitext(os.path.basename(script))[0]
        if options.get("time_limit") is not None:
            job["timeLimit"] = options["time_limit"]
        if options.get("priority") is not None:
            job["priority"] = options["priority"]
        if options.get("shadow") is not None:
            job["name"] = str(options["shadow"])
        job["params"] = {ENVELOPE_KEY: envelope}
        return job

    def spawn_signature(self, positional, kwargs, options, after):
        """Starts one child job; returns (its id, whether its result is passed raw)."""
        from celery.canvas import DEP

        params, pc = self._call_of(positional, kwargs)
        envelope = {"v": 1, "pc": serialize_pc(pc)}
        if after is not None:
            envelope["after"] = after
            envelope["receives"] = params is DEP
        if params is not DEP:
            envelope["params"] = params
        return _backend.get_backend().spawn(self._job(pc, options, envelope)), bool(pc.get("raw", False))

    def spawn_starmap(self, calls, kwargs, options, after):
        """Starts one child job that makes every call of `calls` (positional arguments each), one
        after the other (celery.chunks, xstarmap); its result is the list of their values."""
        if not calls:
            raise ValueError("pixyz_execute: a chunk of no calls")
        items, first, first_job = [], None, None
        for positional in calls:
            params, pc = self._call_of(tuple(positional), kwargs)
            job = self._job(pc, options, {})
            if first_job is None:
                first, first_job = pc, job
            elif job.get("process") != first_job.get("process"):
                raise NotImplementedError("pixyz_execute: the calls of one chunk must run the same script")
            items.append({"pc": serialize_pc(pc), "params": params})
        envelope = {"v": 1, "starmap": items}
        if after is not None:
            envelope["after"] = after
            envelope["receives"] = False
        return _backend.get_backend().spawn(self._job(first, options, envelope))

    def __call__(self, params=None, pc=None):
        """Runs the task in this process, as Celery does when a task object is called."""
        from pixyz_worker.local import LocalPixyzTask

        pc = pc if pc is not None else ProgramContext()
        return LocalPixyzTask(pc.get("entrypoint") or "main", pc, params).ret


def _sleep(t):
    time.sleep(t)
    return t


pixyz_execute = _PixyzExecute("pixyz_execute")
sleep = Task("sleep", body=_sleep)
