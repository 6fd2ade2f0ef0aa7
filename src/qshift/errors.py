"""Errors the command line reports in one line with exit code 2.

Library functions raise :class:`ParameterError` naming the *parameter* (``rounds``), never a
flag: the CLI knows which flag carries that parameter and says so (``--rounds``).
"""

from __future__ import annotations


class UsageError(ValueError):
    """A user error: a bad value, file or field, reported without a traceback."""


class ParameterError(UsageError):
    """A bad value of the library parameter ``param``."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param
