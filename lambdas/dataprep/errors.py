"""Errors raised by data preparation. Step Functions sees the class name as the task's error name."""

from __future__ import annotations


class DataPreparationError(Exception):
    """Base class: the data could not be prepared; nothing partial was left behind."""


class InvalidEventError(DataPreparationError):
    """The Lambda event is missing a field or has a value outside what the function accepts."""


class SourceDataError(DataPreparationError):
    """The GDELT source object is missing, unreadable, empty, or yields no usable rows."""


class TooManyBadRowsError(SourceDataError):
    """More rows were malformed than ``maxBadRowFraction`` allows."""


class OutputWriteError(DataPreparationError):
    """Writing a prepared object to the stack bucket failed; the upload was aborted."""
