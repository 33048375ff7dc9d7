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
import re
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
    for_cli = getattr(exc, "for_cli", None)
    if callable(for_cli):
        return str(for_cli())
    return str(exc)


def run_cli(prog: str, body: Callable[[], int | None], flags: dict[str, str] | None = None) -> int:
    """Run a script's body; bad input becomes ``<prog>: error: ...`` on stderr and exit 2.

    Handled as usage errors: :class:`UsageError`, the feeds' ``DataValidationError`` and
    ``OfflineDataError``, ``ValueError``, ``FileNotFoundError`` and ``ConnectionError``. Ctrl-C
    exits :data:`EXIT_INTERRUPTED`. Anything else (a ``KeyError`` included) is a bug and keeps its
    traceback. ``flags`` maps library argument names to the script's flags: a message that starts
    with one (``"n_clusters must be ..."``) is prefixed with the flag (``"--clusters: ..."``).
    """
    from btedge.feeds.errors import OfflineDataError

    try:
        status = body()
    except (UsageError, ValueError, FileNotFoundError, OfflineDataError, ConnectionError) as exc:
        print(f"{prog}: error: {_with_flag(error_message(exc), flags or {})}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if status is None else int(status)


def _with_flag(message: str, flags: dict[str, str]) -> str:
    first = re.match(r"\w+", message)
    flag = flags.get(first.group(0)) if first else None
    return f"{flag}: {message}" if flag else message


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


def timestamp_arg(text: str) -> str:
    """argparse ``type=`` for dates and timestamps: checks the text parses and returns it as given
    (a bare date stays a date, so ``--to 2011-03-07`` can mean the whole day). A bad value
    names the flag (argparse adds it) and exits 2."""
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        stamp = None
    if stamp is None or stamp is pd.NaT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or timestamp (e.g. 2019-12-31 or 2019-12-31T15:30)")
    return text.strip()


def add_data_options(parser: argparse.ArgumentParser, *, window: bool = True) -> None:
    """The flags that apply the loader's fixes (each error message names the one it needs)."""
    group = parser.add_argument_group("reading the data (each error names the flag that fixes it)")
    group.add_argument("--symbol", metavar="NAME[,NAME...]",
                       help="a long file's symbol (a symbol/ticker/pair column), or the column(s) of a wide "
                            "close panel to use")
    group.add_argument("--datetime-column", metavar="COLUMN[,TIME]",
                       help="the timestamp column (or DATE,TIME for split columns) when it is not found")
    group.add_argument("--sep", metavar="CHAR", help="field separator when not sniffed right, e.g. ';'")
    group.add_argument("--date-format", metavar="FORMAT",
                       help="strptime format of the timestamps, e.g. '%%d/%%m/%%Y %%H:%%M'")
    group.add_argument("--tz", metavar="ZONE", help="zone of naive timestamps, e.g. America/New_York (default UTC)")
    group.add_argument("--sort", action="store_true",
                       help="sort rows by time and drop exact duplicate rows (counts are logged)")
    group.add_argument("--close-only", action="store_true",
                       help="fill missing open/high/low columns from close (otherwise an error)")
    group.add_argument("--adjust", action="store_true",
                       help="scale open/high/low/close by the file's adjusted close (dividends, splits), as "
                            "backtrader's Yahoo feed (volume inversely)")
    group.add_argument("--ffill", action="store_true",
                       help="wide close panels: carry the last close over gaps inside a column")
    if window:
        group.add_argument("--from", dest="fromdate", type=timestamp_arg, metavar="DATE",
                           help="first bar to use (inclusive), e.g. 2019-01-01")
        group.add_argument("--to", dest="todate", type=timestamp_arg, metavar="DATE",
                           help="last bar to use (inclusive; a date includes that whole day)")


def load_options(args: argparse.Namespace) -> Any:
    """The :class:`~btedge.feeds.resolve.LoadOptions` of the flags :func:`add_data_options` added."""
    from btedge.feeds.resolve import LoadOptions

    return LoadOptions(
        datetime=args.datetime_column, sep=args.sep, date_format=args.date_format, tz=args.tz, sort=args.sort,
        close_only=args.close_only, adjust=args.adjust, ffill=args.ffill, symbol=args.symbol,
        fromdate=getattr(args, "fromdate", None), todate=getattr(args, "todate", None),
        interval=getattr(args, "interval", "1d"), offline=bool(getattr(args, "offline", False)),
    )


def strategy_list() -> list[str]:
    """``--list``: each registered strategy with the whole first sentence of its description."""
    from btedge.strategies import available
    from btedge.strategies.registry import datas_needed, first_sentence

    lines = []
    for name, cls in available().items():
        low, high = datas_needed(name)
        datas = "" if (low, high) == (1, 1) else f" [{low}{'+' if high is None else ''} datas]"
        lines.append(f"{name:18s} {_plain(first_sentence(cls.__doc__)) or cls.__name__}{datas}")
    return lines


def param_list(name: str) -> list[str]:
    """``--list-params NAME``: each param's default, type, allowed values and meaning."""
    from btedge.strategies.registry import param_docs

    cls, _ = resolve_strategy(name)
    lines = [f"{name} ({cls.__module__}.{cls.__name__}); set with --param KEY=VALUE", ""]
    for doc in param_docs(cls):
        allowed = f"; allowed: {doc.allowed}" if doc.allowed else ""
        lines.append(f"  {doc.name} = {doc.default!r}  ({doc.type}{allowed})")
        lines.append(f"      {_plain(doc.description) or '(no description)'}")
    return lines


def _plain(text: str) -> str:
    """reST literals and roles as plain text: ````x```` -> ``x``, ``:class:`~a.B``` -> ``B``."""
    text = re.sub(r":\w+:`~?([\w.]+\.)?(\w+)`", r"\2", text)
    return text.replace("``", "")
