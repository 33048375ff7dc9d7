"""From ``--data`` specs to named, validated, aligned frames: the one resolver of the CLIs.

A spec is a file (any layout :func:`~btedge.feeds.load_csv` reads), a wide close panel (one
close column per symbol, :func:`~btedge.feeds.load_panel`), or a Yahoo ticker
(:func:`~btedge.feeds.yahoo_frame`). A spec that looks like a path (a folder separator, a file
suffix such as ``.csv``, a leading ``.`` or ``~``) and does not exist is "no such file", never a
download. The window ``--from``/``--to`` is inclusive, and a ``--to`` given as a bare date
includes that whole day on intraday data. Several frames are restricted to the timestamps they
all share, logging what each lost (:func:`~btedge.feeds.panel.align_frames`).

``btedge-backtest``, ``btedge-sweep`` and ``btedge-universe`` all load through here.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from btedge.feeds.errors import DataValidationError

log = logging.getLogger(__name__)

Frames = list[tuple[str, pd.DataFrame]]

_TICKER = re.compile(r"^[A-Za-z0-9^=.\-]{1,20}$")
_FILE_SUFFIX = re.compile(r"\.(csv|txt|gz|tsv|dat|parquet|zip|bz2|xz)$", re.IGNORECASE)


class DataSpecError(DataValidationError):
    """A ``--data`` spec, window or symbol that cannot be resolved (says which flag to change)."""


@dataclass(frozen=True)
class LoadOptions:
    """How to read and cut the data: the loader's overrides and the run's window.

    Attributes:
        datetime: timestamp column, or ``"DATE,TIME"`` for split columns (``--datetime-column``).
        sep: field separator (``--sep``).
        date_format: strptime format of the timestamps (``--date-format``).
        tz: zone of naive timestamps (``--tz``).
        sort: sort rows and drop exact duplicates (``--sort``).
        close_only: fill missing open/high/low from close (``--close-only``).
        adjust: scale open/high/low/close by the file's adjusted close (``--adjust``).
        ffill: carry a panel's last close over gaps inside a column (``--ffill``).
        symbol: a long file's symbol(s) or a panel's column(s), ``"A,B"`` for several (``--symbol``).
        fromdate, todate: inclusive window (``--from``/``--to``).
        interval, offline: Yahoo bar interval and never-download (tickers only).
    """

    datetime: str | None = None
    sep: str | None = None
    date_format: str | None = None
    tz: str | None = None
    sort: bool = False
    close_only: bool = False
    adjust: bool = False
    ffill: bool = False
    symbol: str | None = None
    fromdate: pd.Timestamp | str | None = None
    todate: pd.Timestamp | str | None = None
    interval: str = "1d"
    offline: bool = False

    def csv_overrides(self) -> dict[str, object]:
        """The :func:`~btedge.feeds.load_csv` keywords these options set."""
        out: dict[str, object] = {}
        if self.datetime:
            parts = [p.strip() for p in self.datetime.split(",")]
            out["datetime"] = parts if len(parts) == 2 else self.datetime
        for key in ("sep", "date_format"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        for key in ("sort", "close_only", "adjust"):
            if getattr(self, key):
                out[key] = True
        return out

    @property
    def symbols(self) -> list[str] | None:
        """``--symbol A,B`` as a list (None when not given)."""
        return [s.strip() for s in self.symbol.split(",") if s.strip()] if self.symbol else None


def looks_like_path(spec: str) -> bool:
    """A spec meant as a file: a folder separator, a file suffix, or a leading ``.``/``~``."""
    return "/" in spec or "\\" in spec or spec.startswith((".", "~")) or bool(_FILE_SUFFIX.search(spec))


def window(fromdate: pd.Timestamp | str | None, todate: pd.Timestamp | str | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """``(first, end)`` with ``end`` exclusive: a ``todate`` that is a date (text without a time,
    or a timestamp at midnight) ends after that whole day."""
    start = pd.Timestamp(fromdate) if fromdate is not None else None
    end = None
    if todate is not None:
        stamp = pd.Timestamp(todate)
        has_time = isinstance(todate, str) and bool(re.search(r"[T ]\d", todate.strip()))
        whole_day = stamp == stamp.normalize() and not has_time
        end = stamp + pd.Timedelta(days=1) if whole_day else stamp + pd.Timedelta(1, "ns")
    if start is not None and end is not None and start >= end:
        raise DataSpecError(f"--from {fromdate} is after --to {todate}. Fix: swap them")
    return start, end


def _in_window(index: pd.DatetimeIndex, options: LoadOptions) -> np.ndarray:
    start, end = window(options.fromdate, options.todate)
    keep = np.ones(len(index), dtype=bool)
    if start is not None:
        keep &= np.asarray(index >= start)
    if end is not None:
        keep &= np.asarray(index < end)
    return keep


def slice_frame(df: pd.DataFrame, options: LoadOptions, source: str) -> pd.DataFrame:
    """The bars of ``df`` inside the options' window (inclusive; see :func:`window`)."""
    if options.fromdate is None and options.todate is None:
        return df
    out = df.loc[_in_window(df.index, options)]
    if out.empty:
        raise DataSpecError(
            f"{source}: no bars between --from {options.fromdate} and --to {options.todate} "
            f"(the data spans {df.index[0]} .. {df.index[-1]}). Fix: pick dates inside that span"
        )
    return out


def _file_frames(path: Path, options: LoadOptions) -> Frames:
    from btedge.feeds.loader import load_csv, load_symbols
    from btedge.feeds.panel import is_panel, load_panel

    if is_panel(path):
        frames = load_panel(path, columns=options.symbols, date_col=options.datetime, ffill=options.ffill,
                            date_format=options.date_format)
        log.info("%s: wide close panel, %d column(s): %s", path, len(frames), ", ".join(frames))
        return list(frames.items())
    symbols = options.symbols or []
    if len(symbols) > 1:  # several symbols of a long file, parsed in one pass
        frames = load_symbols(path, symbols, tz=options.tz, **options.csv_overrides())
        return [(name, _reported(df, path)) for name, df in frames.items()]
    df = load_csv(path, symbol=options.symbol, tz=options.tz, **options.csv_overrides())
    return [(options.symbol or path.name.split(".")[0], _reported(df, path))]


def _reported(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Log at WARNING what ``--sort`` changed (the loader's counts)."""
    fixed = df.attrs.get("sort")
    if fixed and (fixed["sorted"] or fixed["dropped"]):
        log.warning("%s: --sort put %d row(s) back in time order and dropped %d exact duplicate row(s)",
                    path, fixed["sorted"], fixed["dropped"])
    return df


def _ticker_frame(spec: str, options: LoadOptions) -> pd.DataFrame:
    from btedge.feeds.yahoo import yahoo_frame

    if options.fromdate is None:
        raise DataSpecError(f"--data {spec}: a Yahoo ticker needs --from (and --to, default: up to the latest "
                            "close). Fix: pass --from YYYY-MM-DD, or give a file path")
    _, end = window(options.fromdate, options.todate)  # None: up to the latest bar (cache key 'latest')
    return yahoo_frame(spec, start=options.fromdate, end=end, interval=options.interval,
                       offline=options.offline or None)


def resolve_spec(spec: str, options: LoadOptions) -> Frames:
    """One ``--data`` spec as ``[(name, frame), ...]`` (several for a panel), sliced to the window."""
    path = Path(spec).expanduser()
    if path.is_file():
        frames = _file_frames(path, options)
    elif path.exists():
        raise DataSpecError(f"--data {spec}: is a folder, not a file. Fix: give a CSV file")
    elif looks_like_path(spec) or not _TICKER.match(spec):
        raise FileNotFoundError(f"--data {spec}: no such file (cwd is {Path.cwd()}). Fix: check the path")
    else:
        frames = [(spec, _ticker_frame(spec, options))]
    if len(frames) == 1:
        return [(frames[0][0], slice_frame(frames[0][1], options, spec))]
    inside = [(name, df) for name, df in frames if _in_window(df.index, options).any()]
    empty = [name for name, _ in frames if name not in dict(inside)]
    if empty and len(empty) < len(frames):
        log.warning("%s: left out %d column(s) with no bars between --from %s and --to %s: %s", spec, len(empty),
                    options.fromdate, options.todate, ", ".join(empty))
    return [(name, slice_frame(df, options, f"{spec}:{name}")) for name, df in (inside or frames)]


def resolve_datas(specs: Sequence[str], options: LoadOptions | None = None, *, align: bool = True) -> Frames:
    """Every ``--data`` spec resolved (:func:`resolve_spec`), then aligned on shared timestamps.

    Args:
        specs: file paths, panel files and Yahoo tickers, in order.
        options: loader overrides and window; defaults read every file as sniffed.
        align: restrict several frames to the timestamps they all share (logged). Off for
            consumers that take each asset's own history (universe statistics).

    Raises:
        DataValidationError: a file that cannot be read (its message names the CLI flag to fix it).
        FileNotFoundError: a path that does not exist.
        OfflineDataError: a ticker not cached while offline, or a failed download.
    """
    from btedge.feeds.panel import align_frames

    options = options or LoadOptions()
    if not specs:
        raise DataSpecError("no --data given. Fix: pass --data PATH (a CSV file) or --data TICKER")
    frames = [frame for spec in specs for frame in resolve_spec(spec, options)]
    names = [name for name, _ in frames]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataSpecError(f"two datas are named {repeated}. Fix: give each --data a different file or symbol")
    return align_frames(frames) if align and len(frames) > 1 else frames


def pick_single(frames: Frames, strategy: str) -> Frames:
    """Refuse several frames for a strategy that trades one data, naming ``--symbol``."""
    if len(frames) <= 1:
        return frames
    names = [name for name, _ in frames]
    raise DataSpecError(
        f"strategy {strategy!r} trades one data but --data gave {len(frames)}: {', '.join(names[:20])}"
        f"{' ...' if len(names) > 20 else ''}. Fix: pass --symbol NAME to pick one column of a panel, "
        "or a single --data"
    )


def resolve_closes(specs: Sequence[str], options: LoadOptions | None = None) -> pd.DataFrame:
    """A wide close table (dates x assets) for cross-sectional statistics (``btedge-universe``).

    Each asset keeps its own history: NaN where it has no bar (before its listing, after its
    delisting), never a back-filled price. A wide close panel gives its columns, a long file
    (a symbol column) all its symbols, an OHLCV file of one asset its close; ``--symbol A,B``
    keeps only those. Only closes are used, so open/close outside [low, high] is not reported.

    Raises:
        DataSpecError: fewer than two assets in all (an OHLCV file of one asset is one asset).
    """
    from btedge.feeds.loader import load_symbols
    from btedge.feeds.panel import is_panel, read_wide, select_columns

    options = options or LoadOptions()
    columns: dict[str, pd.Series] = {}
    for spec in specs:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"--data {spec}: no such file (cwd is {Path.cwd()}). Fix: check the path")
        if is_panel(path):
            wide = read_wide(path, date_col=options.datetime, date_format=options.date_format)
            for name in select_columns(wide, options.symbols, path):
                columns[name] = wide[name]
            continue
        frames = load_symbols(path, options.symbols, tz=options.tz, bounds="widen", **options.csv_overrides())
        columns.update({name: df["close"] for name, df in frames.items()})
    if len(columns) < 2:
        raise DataSpecError(
            f"{', '.join(specs)}: {len(columns)} asset(s) ({', '.join(columns)}); a universe needs at least 2. "
            "Fix: give a wide close panel (one column per asset), a long file with a symbol column, or "
            "several --data files"
        )
    table = pd.DataFrame(columns).sort_index()
    table.index.name = "datetime"
    if options.ffill:
        table = table.apply(lambda col: col.loc[col.first_valid_index():col.last_valid_index()].ffill())
    return table
