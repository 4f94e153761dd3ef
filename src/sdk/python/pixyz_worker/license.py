# -*- coding: utf-8 -*-
"""License: kept for imports of the original; licences are configured by the operator (pxz)."""
__all__ = ["License"]


class License(object):
    def __init__(self, host=None, port=None, acquire_at_start=False, flexlm=True, disable_pixyz=False):
        self.host = host
        self.port = port
        self.acquire_at_start = acquire_at_start
        self.flexlm = flexlm
        self.disable_pixyz = disable_pixyz

    @staticmethod
    def from_config():
        return License()
