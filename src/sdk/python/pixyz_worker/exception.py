# -*- coding: utf-8 -*-
"""The exceptions of the original pixyz_worker that scripts may import, catch or raise."""

__all__ = [
    "PixyzException",
    "PixyzExecutionFault",
    "PixyzSignalFault",
    "PixyzExitFault",
    "PixyzTimeout",
    "PixyzWorkerException",
    "PixyzSharedDirectoryNotFound",
    "PixyzFileNotFound",
    "InternalError",
    "InvalidBackendParameter",
    "ChildJobError",
]


class PixyzException(Exception):
    pass


class PixyzWorkerException(PixyzException):
    pass


class PixyzExecutionFault(PixyzException):
    pass


class PixyzSignalFault(PixyzExecutionFault):
    pass


class PixyzExitFault(PixyzExecutionFault):
    pass


class PixyzTimeout(PixyzException):
    pass


class PixyzSharedDirectoryNotFound(PixyzException):
    pass


class PixyzFileNotFound(PixyzException):
    pass


class InternalError(PixyzException):
    pass


class InvalidBackendParameter(PixyzException):
    pass


class ChildJobError(PixyzException):
    """A child job (a DAG step) ended FAILURE or REVOKED; .get() raises it unless propagate=False."""

    def __init__(self, job_id, status, error=None):
        first = (error or "").strip().split("\n")[-1] if error else ""
        text = "child job %s ended %s" % (job_id, status)
        super().__init__(text + (": " + first if first else ""))
        self.job_id = job_id
        self.status = status
        self.error = error
