# -*- coding: utf-8 -*-
"""pixyz_worker, as provided by pixyz-scheduler to Python job scripts: the parts of the original
package a script uses (ProgramContext, TaskProgress, the pixyz_execute task, PiXYZSession,
exceptions). Scripts usually `from pixyz_worker.script import *`."""
import logging

from pixyz_worker import exception as _exception
from pixyz_worker.exception import *  # noqa: F401,F403
from pixyz_worker.pc import ProgramContext
from pixyz_worker.progress import TaskProgress
from pixyz_worker.share import PiXYZSession
from pixyz_worker.tasks import pixyz_execute, sleep

__version__ = "pixyz-scheduler"
__all__ = ["ProgramContext", "TaskProgress", "PiXYZSession", "pixyz_execute", "sleep", "get_logger"]
__all__ += _exception.__all__


def get_logger(name):
    return logging.getLogger(name)
