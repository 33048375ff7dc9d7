"""Exceptions raised by the btedge feeds: one clear message naming the problem, where, and the fix.

A fix can be said two ways: as the Python keyword of the library call (``load_csv(path,
sort=True)``) and as the command-line flag of the console scripts (``--sort``). A
:class:`DataValidationError` carries both; ``str(exc)`` gives the Python one and
:meth:`DataValidationError.for_cli` the flag, which is what the CLIs print.
"""
from __future__ import annotations


class _FixedError(Exception):
    """An error whose message may carry its fix twice: as Python (``str``) and as CLI flags."""

    def __init__(self, message: str, *, cli_fix: str | None = None) -> None:
        super().__init__(message)
        self.cli_fix = cli_fix

    def for_cli(self) -> str:
        """The message with its fix written as command-line flags (unchanged without one)."""
        message = str(self.args[0]) if self.args else ""
        if self.cli_fix is None:
            return message
        problem = message.split(" Fix: ", 1)[0]
        return f"{problem} Fix: {self.cli_fix}"


class DataValidationError(_FixedError, ValueError):
    """Market data that cannot be used as is: the message names the source, the row and the fix.

    Args:
        message: the problem and where it is; may already end in ``Fix: ...`` (Python wording).
        cli_fix: the same fix as command-line flags (e.g. ``"pass --sort"``); when given,
            :meth:`for_cli` puts it in place of the Python fix.
    """


class OfflineDataError(_FixedError, RuntimeError):
    """Data that needs the network while offline (or the network failed): says how to get it."""
