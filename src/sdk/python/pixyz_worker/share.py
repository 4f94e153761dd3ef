# -*- coding: utf-8 -*-
"""The pixyz_schedule decorator and PiXYZSession.

pixyz_schedule(**kwargs): the daemon reads its keyword literals without running the script
(queue, time_limit, priority, compute_only; wait=True with no queue means queue 'control').
At run time, without wait=True the function is returned as it is. With wait=True, as the
original: the function's return value, when it is a child-job result (a chain's last result, a
chord's), is waited for, one progress step per job (named by its id), and its value (.get())
becomes the job's result; any other return value is dropped (None) with a warning."""
import functools
import importlib.util
import logging

__all__ = ["pixyz_schedule", "PiXYZSession"]

logger = logging.getLogger("pixyz_worker.share")


def _jobs_in_order(result):
    """The jobs behind a result, first started first: a chain's links, a chord's header then body."""
    from celery.result import AsyncResult

    jobs = _jobs_in_order(result.parent) if result.parent is not None else []
    if isinstance(result, AsyncResult):
        return jobs + [result]
    for member in result.results:
        jobs.extend(_jobs_in_order(member))
    return jobs


def _wait_and_get(pc, result, timeout):
    from celery.result import ResultBase, _fetch

    if not isinstance(result, ResultBase):
        logger.warning("pixyz_schedule(wait=True): the function did not return a task result; the job's result is None")
        return None
    jobs = []
    for job in _jobs_in_order(result):
        if job not in jobs:
            jobs.append(job)
    pc.progress_set_total(len(jobs))
    for job in jobs:
        pc.progress_next(job.id)
        _fetch([job])
    with pc.allow_join_result():
        return result.get(timeout=timeout)


def pixyz_schedule(*args, **kwargs):
    def decorate(function):
        if not kwargs.get("wait"):
            function.pixyz_schedule = dict(kwargs)
            return function

        @functools.wraps(function)
        def waiting(pc, params):
            from pixyz_worker._run import _await
            import asyncio
            import inspect

            returned = function(pc, params)
            if inspect.isawaitable(returned):
                returned = asyncio.run(_await(returned))
            return _wait_and_get(pc, returned, kwargs.get("timeout"))

        waiting.pixyz_schedule = dict(kwargs)
        return waiting

    if len(args) == 1 and callable(args[0]) and not kwargs:
        return decorate(args[0])  # a bare @pixyz_schedule
    return decorate


class PiXYZSession(object):
    """Initializes the Pixyz SDK (pxz) when it is installed: the original worker did it before each
    job. The job harness calls initialize() when the script imported pxz."""

    initialized = False

    def __init__(self, license=None):
        self.license = license

    @staticmethod
    def initialize(mandatory=False):
        if PiXYZSession.initialized:
            return True
        if importlib.util.find_spec("pxz") is None:
            if mandatory:
                raise ImportError("the Pixyz SDK (pxz) is not installed")
            return False
        try:
            import pxz

            pxz.initialize()
            PiXYZSession.initialized = True
            return True
        except Exception as error:  # no pxz, or no licence: the script's own pxz calls will say
            if mandatory:
                raise
            logger.warning("Pixyz SDK not initialized: %s", error)
            return False

    def __enter__(self):
        PiXYZSession.initialize()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        return False
