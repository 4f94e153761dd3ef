# -*- coding: utf-8 -*-
"""Local runs without a scheduler, as the original's: `python3 script.py` with

    if __name__ == '__main__':
        LocalPixyzTask.from_commandline(__file__, os.getcwd(), 'main')

runs the entrypoint in this process (progress printed, child jobs run at once in this process).
`pixyz-scheduler run script.py` runs it the way the daemon does instead (same harness and pc)."""
import datetime
import os

from pixyz_worker import _backend, _run
from pixyz_worker.pc import ProgramContext
from pixyz_worker.progress import TaskProgress

__all__ = ["LocalPixyzTask", "AsyncResultLocal", "allow_join_result"]

LOCAL_TASK_ID = "00000000-0000-0000-0000-000000000000"


class LocalPixyzTask(object):
    """Runs `entrypoint` of pc['script'] synchronously, in this process; the value is .ret / .get()."""

    def __init__(self, entrypoint, pc, params=None):
        if params is None:
            params = {}
        pc_task = pc.clone(entrypoint=entrypoint, params=params)
        module = _run.load_module(pc_task["script"])
        self.ret = _run.call_entry(_run.get_entry(module, entrypoint), pc_task)
        self.task_id = self
        self.state = "READY"

    @staticmethod
    def from_commandline(script, output_path, entrypoint, params=None, input_file=None):
        from pixyz_worker.share import PiXYZSession

        PiXYZSession.initialize()
        script = os.path.abspath(script)
        input_dir = os.path.dirname(os.path.abspath(input_file)) if input_file else None
        backend = _backend.InProcessBackend(input_file=input_file, input_dir=input_dir, output_dir=output_path)
        _backend.set_backend(backend, script=script)
        pc = ProgramContext.from_local(script, input_file, output_path)
        pc["entrypoint"] = entrypoint
        pc["task_id"] = LOCAL_TASK_ID
        pc["queue"] = "local"
        if input_dir:
            pc["input_dir"] = input_dir
        pc["progress"] = TaskProgress(
            None, LOCAL_TASK_ID, 0, datetime.datetime.now(datetime.timezone.utc), backend=backend
        )
        return LocalPixyzTask(entrypoint, pc, params).ret

    def get(self):
        return self.ret

    def ready(self):
        return True


class AsyncResultLocal(object):
    def __init__(self, id, backend=None, task_name=None, app=None, parent=None):
        self.task = id
        self.task_id = id
        self.state = "READY"

    def get(self):
        return self.task.ret

    def ready(self):
        return True


class allow_join_result(object):
    def __enter__(self):
        return True

    def __exit__(self, exc_type, exc_val, exc_tb):
        return False
