# -*- coding: utf-8 -*-
"""A shim of the `celery` package for the original's scripts, provided by pixyz-scheduler.

It covers what job scripts use: chain, group, chord, chunks, signatures of
pixyz_worker.tasks.pixyz_execute (.s(), .set(queue=...), .apply_async()), and results
(celery.result). Tasks run as child jobs of the
script's job. There is no broker and no Celery app."""
from celery.canvas import Signature, chain, chord, chunks, group, maybe_signature, signature, xmap, xstarmap
from celery.result import AsyncResult, GroupResult, allow_join_result

__all__ = [
    "Signature",
    "chain",
    "chord",
    "chunks",
    "xmap",
    "xstarmap",
    "group",
    "signature",
    "maybe_signature",
    "AsyncResult",
    "GroupResult",
    "allow_join_result",
]

subtask = signature
