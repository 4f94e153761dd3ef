# -*- coding: utf-8 -*-
"""TaskProgress, as the original's: steps with durations; progress = steps ended / total.

The daemon measures and stores the steps (GET /jobs/{uuid}/details); this object only reports
them. Extra keyword arguments of next()/stop() (the original stored them in the task meta) are
accepted and ignored.
"""
import datetime
import time

from pixyz_worker import _backend

__all__ = ["TaskProgress"]


class TaskProgress(object):
    def __init__(self, celery_self=None, task_id=None, step_total=1, time_request=None, backend=None):
        self.task_id = task_id
        self.step_total = 1
        self.steps = []
        self._open = False
        self._opened_at = None
        self._backend = backend
        self.time_request = time_request
        self.time_started = None
        self.time_stopped = None
        self.set_total(step_total, _send=False)
        self.start()

    @property
    def backend(self):
        return self._backend if self._backend is not None else _backend.get_backend()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.stop()
        return False

    def start(self):
        if self.time_started is None:
            self.time_started = datetime.datetime.now(datetime.timezone.utc)
        return self

    def set_total(self, total, _send=True):
        try:
            n = int(total)
        except (TypeError, ValueError):
            n = 1
        self.step_total = n if n > 0 else 1
        if _send:
            self.backend.total(self.step_total)

    def _close(self):
        if self._open and self.steps:
            self.steps[-1]["duration"] = time.perf_counter() - self._opened_at
        self._open = False

    def next(self, step_info=None, output=None, **kwargs):
        self._close()
        info = "" if step_info is None else str(step_info)
        label = info or "step %d" % (len(self.steps) + 1)
        self.steps.append({"duration": -1, "info": label})
        self._open = True
        self._opened_at = time.perf_counter()
        self.backend.next(info, "[task step %d/%d] %s" % (len(self.steps), self.step_total, label))

    def stop(self, **kwargs):
        if not self._open:
            return
        self._close()
        self.time_stopped = datetime.datetime.now(datetime.timezone.utc)
        self.backend.stop()

    def retry(self, n):
        pass

    def store(self, **kwargs):
        pass

    @property
    def percent(self):
        ended = len(self.steps) - 1 if self._open else len(self.steps)
        return max(0, min(100, int(ended * 100 / self.step_total)))

    def output(self, ret):
        """The original's wrapped result: the task meta, with the script's value under 'result'."""
        return {"progress": 100, "steps": [dict(s) for s in self.steps], "result": ret}
