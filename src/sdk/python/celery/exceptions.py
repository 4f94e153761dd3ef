# -*- coding: utf-8 -*-
from pixyz_worker.exception import ChildJobError


class CeleryError(Exception):
    pass


class TimeoutError(CeleryError):
    pass


class ChordError(CeleryError):
    pass


class Retry(CeleryError):
    pass


class Ignore(CeleryError):
    pass


TaskError = ChildJobError
