# -*- coding: utf-8 -*-
"""ProgramContext: the `pc` a script's entrypoint receives, a dict with the original's keys and methods."""
import datetime
import logging
import os

from pixyz_worker.exception import PixyzSharedDirectoryNotFound

__all__ = ["ProgramContext"]


def _utcnow():
    # Naive UTC, as the original's datetime.utcnow() (deprecated since Python 3.12).
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class ProgramContext(dict):
    def __init__(self, **kwargs):
        super(ProgramContext, self).__init__(**kwargs)
        self.logger = logging.getLogger("pixyz_worker.pc.ProgramContext")
        self.set_mandatory_parameters()

    def __str__(self):
        safe_params = {k: v for k, v in self.items() if k not in ["task", "progress"]}
        return "ProgramContext<%s>" % (safe_params,)

    def set_mandatory_parameters(self):
        mandatory_parameters = {
            "compute_only": False,
            "data": None,
            "tmp": True,
            "root_file": None,
            "is_local": False,
            "entrypoint": "main",
            "time_request": _utcnow(),
            "raw": False,
        }
        for key, value in mandatory_parameters.items():
            if key not in self:
                self[key] = value

    # progress
    def progress_set_total(self, total):
        if "progress" in self:
            self["progress"].set_total(total)

    def progress_start(self):
        if "progress" in self:
            self["progress"].start()

    def progress_next(self, info=None, output=None):
        if "progress" in self:
            self["progress"].next(info)
        else:
            print(info)

    def progress_stop(self):
        if "progress" in self:
            self["progress"].stop()

    def progress_output(self, ret):
        if "progress" in self and self["raw"] is False:
            return self["progress"].output(ret)
        return ret

    # copies
    def clone(self, **kwargs):
        pc = ProgramContext(**self)
        if "time_request" not in kwargs:
            kwargs["time_request"] = _utcnow()
        pc.update(**kwargs)
        if "task" in pc:
            del pc["task"]
        return pc

    def serialize(self):
        return dict(self)

    @staticmethod
    def builder(d):
        return ProgramContext(**d)

    def update(self, *args, **kwargs):
        """Updates in place and returns self. A key that exists and whose new value has .update
        (a dict) is merged into the old value instead of replaced, as the original: a DAG child's
        params are the parent's params merged with the previous step's result."""
        if args:
            if len(args) > 1:
                raise TypeError("update expected at most 1 positional argument, got %d" % len(args))
            merged = dict(args[0])
            merged.update(kwargs)
            kwargs = merged
        for key, value in kwargs.items():
            if key in self and hasattr(value, "update"):
                self[key].update(value)
            else:
                self[key] = value
        return self

    # folders and files
    def _folder(self, key, filename):
        if key not in self:
            raise PixyzSharedDirectoryNotFound("No shared_file_path %s provided by the caller" % key)
        folder = self[key]
        if folder is None or not os.path.isdir(folder):
            raise PixyzSharedDirectoryNotFound(
                "%s %s is not found, please check backend purge configuration or shared storage" % (key, folder)
            )
        return folder if filename is None else os.path.join(folder, filename)

    def get_output_dir(self, filename=None):
        """The output folder, or `filename` in it; the folders of `filename` are created (as the TS
        ctx.outputDir), so `open(pc.get_output_dir('sub/x.glb'), 'wb')` works."""
        path = self._folder("output_dir", filename)
        if filename is not None:
            folder = os.path.dirname(os.path.abspath(path))
            root = os.path.abspath(self["output_dir"])
            # Only inside the output folder: a path elsewhere is returned as it is, as the original.
            if folder != root and folder.startswith(os.path.join(root, "")):
                os.makedirs(folder, exist_ok=True)
        return path

    def get_input_dir(self, filename=None):
        return self._folder("input_dir", filename)

    def get_input_file(self):
        try:
            return self["input_file"]
        except KeyError:
            raise ValueError("No input_file in ProgramContext")

    def _get_dict_value(self, key, default=None):
        return self[key] if key in self else default

    def is_compute_only(self):
        return self._get_dict_value("compute_only", False)

    def is_need_a_tmp(self):
        return self._get_dict_value("tmp", True)

    def is_local(self):
        return self._get_dict_value("is_local", False)

    @staticmethod
    def from_local(script, input_path=None, output_dir=None):
        return ProgramContext(script=script, input_file=input_path, output_dir=output_dir, is_local=True)

    # DAG
    def AsyncResult(self, id, backend=None, task_name=None, app=None, parent=None):
        from celery.result import AsyncResult

        return AsyncResult(id, parent=parent)

    def allow_join_result(self):
        from celery.result import allow_join_result

        return allow_join_result()

    def execute(self, params=None, **kwargs):
        """Starts this context as a new job (its entrypoint, on kwargs' queue, default gpu as the
        original's pixyz_execute); returns its result handle (.get(), .id, .as_tuple())."""
        from pixyz_worker.tasks import pixyz_execute

        return pixyz_execute.apply_async(args=(params, self.clone()), **kwargs)
