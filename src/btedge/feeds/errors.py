"""Exceptions raised by the btedge feeds: one clear message naming the problem, where, and the fix."""
from __future__ import annotations


class DataValidationError(ValueError):
    """Market data that cannot be used as is: the message names the source, the row and the fix."""


class OfflineDataError(RuntimeError):
    """Data that needs the network while offline (or the network failed): says how to get it."""
