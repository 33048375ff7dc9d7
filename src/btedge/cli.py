"""The thin layer under the four console scripts (``btedge-backtest``, ``btedge-live``,
``btedge-universe``, ``btedge-sweep``): exit codes, usage errors, logging set-up, ``--version``,
strategy and param resolution, and the flags that tell the loader how to read a file.

Every script runs its body through :func:`run_cli`, which turns a bad input into one line on
stderr (``<prog>: error: <problem>. Fix: <flag>``) and exit status :data:`EXIT_USAGE`, never a
traceback. Checks run in the order a user needs them: :func:`resolve_strategy` (name, then
params) before any data is loaded or any connection is made.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable, Sequence

import pandas as pd

from btedge import __version__

log = logging.getLogger(__name__)

#: Exit statuses shared by the console scripts.
EXIT_OK = 0
EXIT_FAILURE = 1  # the run itself failed (an unexpected error, printed with its traceback)
EXIT_USAGE = 2  # bad command line or bad input data: one message, no traceback
EXIT_INTERRUPTED = 130  # Ctrl-C

_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)
_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


class UsageError(Exception):
    """A problem with the command line or its inputs; printed as one line, exit :data:`EXIT_USAGE`."""


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--version`` and ``-v/--verbose`` (count: -v info, -vv debug), the same on every script."""
    parser.add_argument("--version", action="version", version=f"%(prog)s (btedge {__version__})")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: info logs (what was loaded, aligned, skipped), -vv: debug")


def setup_logging(verbosity: int) -> None:
    """Log to stderr at WARNING, INFO (``-v``) or DEBUG (``-vv``)."""
    logging.basicConfig(level=_LEVELS[min(max(int(verbosity), 0), 2)], format=_LOG_FORMAT, force=True)


def error_message(exc: BaseException) -> str:
    """The one line a user reads for ``exc``: fixes written as command-line flags."""
    from btedge.feeds.errors import DataValidationError

    if isinstance(exc, DataValidationError):
        return exc.for_cli()
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def run_cli(prog: str, body: Callable[[], int | None]) -> int:
    """Run a script's body; bad input becomes ``<prog>: error: ...`` on stderr and exit 2.

    Handled as usage errors: :class:`UsageError`, the feeds' ``DataValidationError`` and
    ``OfflineDataError``, ``ValueError``, ``FileNotFoundError``, ``KeyError`` and
    ``ConnectionError``. Ctrl-C exits :data:`EXIT_INTERRUPTED`. Anything else is a bug and keeps
    its traceback.
    """
    from btedge.feeds.errors import OfflineDataError

    try:
        status = body()
    except (UsageError, ValueError, FileNotFoundError, KeyError, OfflineDataError, ConnectionError) as exc:
        print(f"{prog}: error: {error_message(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if status is None else int(status)


def resolve_strategy(name: str, items: Sequence[str] = (), *, flag: str = "--param") -> tuple[type, dict[str, Any]]:
    """The registered strategy ``name`` and its ``key=value`` params typed from its defaults.

    Raises:
        UsageError: unknown name (lists the valid ones) or a bad param (names ``flag``, the key,
            the expected type and the valid keys).
    """
    from btedge.strategies import get_strategy, parse_params

    try:
        cls = get_strategy(name)
    except ValueError as exc:
        raise UsageError(f"--strategy: {exc}. Fix: pick one of the names listed by --list") from None
    try:
        params = parse_params(cls, list(items))
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}. Fix: see --list-params {name}") from None
    return cls, params


def timestamp_arg(text: str) -> pd.Timestamp:
    """argparse ``type=`` for dates and timestamps; a bad value names the flag (argparse adds it)."""
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        stamp = None
    if stamp is None or stamp is pd.NaT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or timestamp (e.g. 2019-12-31 or 2019-12-31T15:30)")
    return stamp
