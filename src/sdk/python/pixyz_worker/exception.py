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


def error_headline(text):
    """The line of an error that says what failed (as the daemon shows it): of a Python traceback,
    its exception line (the first line after the last frame that is neither indented nor blank);
    of anything else, its first non-blank line."""
    if not text:
        return ""
    lines = text.splitlines()
    visible = [line for line in lines if line.strip()]
    if not visible:
        return ""
    if any(line.startswith("Traceback (most recent call last):") for line in lines):
        frames = [i for i, line in enumerate(lines) if line[:1].isspace() and line.lstrip().startswith('File "')]
        if frames:
            for line in lines[frames[-1] + 1:]:
                if line.strip() and not line[:1].isspace():
                    return line.rstrip()
        return visible[-1].strip()
    return visible[0].rstrip()


class ChildJobError(PixyzException):
    """A child job (a DAG step) ended FAILURE or REVOKED; .get() raises it unless propagate=False."""

    def __init__(self, job_id, status, error=None):
        first = error_headline(error)
        text = "child job %s ended %s" % (job_id, status)
        super().__init__(text + (": " + first if first else ""))
        self.job_id = job_id
        self.status = status
        self.error = error
