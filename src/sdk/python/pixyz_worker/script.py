# -*- coding: utf-8 -*-
"""`from pixyz_worker.script import *`: what the original offers to job scripts."""
import os
import sys

from celery import chain, chord, chunks, group
from pixyz_worker.license import License
from pixyz_worker.local import LocalPixyzTask
from pixyz_worker.pc import ProgramContext
from pixyz_worker.share import PiXYZSession, pixyz_schedule
from pixyz_worker.tasks import pixyz_execute


def subtask_async(pc, entrypoint, params=None, **kwargs):
    """Starts `entrypoint` of the same script as a child job (kwargs: queue, time_limit, priority)."""
    sub_pc = pc.clone(entrypoint=entrypoint, params=params)
    return sub_pc.execute(params, **kwargs)
