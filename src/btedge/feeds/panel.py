"""Wide close-only panels: one date column and one close column per symbol.

Research data sets often come as a single wide table of closes (index constituents, ETF
universes, Bloomberg exports with ``EWA US Equity`` style headers). :func:`load_panel` turns such a
file into one OHLCV frame per symbol for :class:`btedge.feeds.FrameData`.

The frames are **close-only**: ``open == high == low == close`` and ``volume == 0``. A market
order placed on bar t fills at the "open" of bar t+1, which here is that bar's close, so fills
are at the next close (plus the broker's slippage). Indicators that need a real range (ATR,
stochastics) or volume are meaningless on these frames.

Missing values: leading and trailing NaNs of a column are dropped (the symbol starts listing
later or stops earlier). A NaN *inside* a column's history is an error naming the column and the
date, unless ``ffill=True`` carries the last close forward.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from btedge.feeds import timestamps as ts
from btedge.feeds.errors import DataValidationError

log = logging.getLogger(__name__)

Frames = list[tuple[str, pd.DataFrame]]

_OHLC_NAMES = {"open", "high", "low", "close", "adj close", "adjclose", "volume"}
_SYMBOL_NAMES = {"symbol", "ticker", "pair", "instrument", "asset", "code"}
#: Bloomberg yellow keys: ``EWA US Equity`` -> ``EWA``.
_BLOOMBERG = re.compile(r"^\s*(\S+)(\s+[A-Z]{2})?\s+(Equity|Index|Curncy|Comdty|Govt|Corp)\s*$")


def clean_symbol(name: str) -> str:
    """``'EWA US Equity'`` -> ``'EWA'``; other names are only stripped (and lose a BOM)."""
    text = str(name).replace("\ufeff", "").strip()
    match = _BLOOMBERG.match(text)
    return match.group(1) if match else text


def _table_head(path: Path) -> tuple[str, int, list[str], list[list[str]]]:
    """Separator, physical lines before the header (banner lines skipped), the header names and
    the first data rows."""
    lines, physical = ts.read_head(path)
    if not lines:
        raise DataValidationError(f"{path}: the file is empty. Fix: check the path")
    sep = ts.detect_sep(lines)
    rows = [ts.split_line(line, sep) for line in lines]
    try:
        i, header = ts.table_start(rows, _known_names)
    except ValueError:
        return sep, 0, [], []
    if not header:
        return sep, physical[i], [], rows[i:]
    return sep, physical[i], [h.replace("\ufeff", "").strip() for h in rows[i]], rows[i + 1:]


def _known_names(row: Sequence[str]) -> int:
    return sum(ts.stamp_role(f) is not None or ts.normalise_name(f) in _OHLC_NAMES for f in row)


def is_panel(path: str | Path) -> bool:
    """True if ``path`` looks like a wide close-only file: a header (after any banner lines) with
    a date column (named like one, or holding dates), no OHLC or symbol columns, and at least one
    other column (one per symbol)."""
    _, _, names, rows = _table_head(Path(path))
    header = {ts.normalise_name(n) for n in names}
    if len(names) < 2 or _OHLC_NAMES & header or _SYMBOL_NAMES & header:
        return False
    dates = [row[0] for row in rows if row]
    return any(ts.stamp_role(n) for n in names) or ts.looks_like_timestamps(dates)


def parse_dates(values: pd.Series, source: str, date_format: str | None = None) -> pd.DatetimeIndex:
    """Dates from text in one consistent format (:func:`btedge.feeds.timestamps.parse_timestamps`,
    ``date_format`` when given); raises naming the first row that does not parse."""
    try:
        parsed, fmt = ts.parse_timestamps(values.astype(str), date_format=date_format)
    except ValueError as exc:
        raise DataValidationError(f"{source}: cannot read dates with format {date_format!r}: {exc}. Fix: pass "
                                  "date_format= a strptime format", cli_fix="pass --date-format a strptime format") from None
    bad = np.flatnonzero(np.asarray(pd.isna(parsed)))
    if len(bad):
        raise DataValidationError(
            f"{source}: date {str(values.iloc[bad[0]])!r} on data row {bad[0] + 1} does not parse as {fmt!r} "
            f"({len(bad)} row(s)). Fix: pass date_format= its strptime format, or write dates as YYYY-MM-DD",
            cli_fix="pass --date-format FORMAT (strptime, e.g. '%d/%m/%Y'), or write dates as YYYY-MM-DD",
        )
    if parsed.tz is not None:
        parsed = parsed.tz_convert("UTC").tz_localize(None)
    return parsed


def read_wide(path: str | Path, *, date_col: str | None = None, date_format: str | None = None) -> pd.DataFrame:
    """The wide table with a DatetimeIndex and symbol-cleaned float columns (NaNs kept)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. Fix: check the path")
    sep, skip, _, _ = _table_head(path)
    with ts.gzip_errors(path):
        raw = pd.read_csv(path, sep=sep, skiprows=skip, encoding="utf-8-sig", dtype=str,
                          compression="gzip" if ts.is_gzip(path) else None)
    raw.columns = [str(c).replace("\ufeff", "").strip() for c in raw.columns]
    date_name = _date_column(raw, date_col, path)
    index = parse_dates(raw[date_name], str(path), date_format)
    wide = raw.drop(columns=[date_name])
    wide.index = index
    wide.index.name = "datetime"
    wide.columns = _unique_symbols(wide.columns, path)
    wide = _to_float(wide, path)
    if not wide.index.is_monotonic_increasing:
        log.info("%s: rows are not in date order; sorting them", path)
        wide = wide.sort_index(kind="stable")
    dup = wide.index.duplicated()
    if dup.any():
        raise DataValidationError(
            f"{path}: date {wide.index[dup][0]} appears more than once. Fix: keep one row per date"
        )
    return wide


def _date_column(raw: pd.DataFrame, date_col: str | None, path: Path) -> str:
    if date_col is not None:
        if date_col not in raw.columns:
            raise DataValidationError(
                f"{path}: no date column {date_col!r}; columns are {list(raw.columns)[:10]}... "
                "Fix: pass date_col= one of them", cli_fix="pass --datetime-column one of them")
        return date_col
    for col in raw.columns:
        if ts.stamp_role(col) is not None:
            return col
    return raw.columns[0]


def _unique_symbols(columns: Iterable[str], path: Path) -> list[str]:
    names = [clean_symbol(c) for c in columns]
    seen: set[str] = set()
    for raw_name, name in zip(columns, names):
        if name in seen:
            raise DataValidationError(
                f"{path}: two columns are named {name!r} (one is {raw_name!r}). Fix: rename one of them"
            )
        seen.add(name)
    return names


def _to_float(wide: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = {}
    for col in wide.columns:
        text = wide[col]
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna() & text.notna() & (text.str.strip() != "")
        if bad.any():
            at = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataValidationError(
                f"{path}: column {col!r} has the non-numeric value {text.iloc[at]!r} on "
                f"{wide.index[at].date()} (data row {at + 1}). Fix: clean the file or drop the column"
            )
        out[col] = values.astype(float)
    return pd.DataFrame(out, index=wide.index)


def close_only_frame(close: pd.Series) -> pd.DataFrame:
    """An OHLCV frame with ``open = high = low = close`` and ``volume = 0``."""
    values = close.to_numpy(dtype=float)
    return pd.DataFrame(
        {"open": values, "high": values, "low": values, "close": values, "volume": np.zeros(len(values))},
        index=close.index,
    )


def _column_frame(wide: pd.DataFrame, col: str, ffill: bool, path: Path) -> pd.DataFrame | None:
    series = wide[col]
    first, last = series.first_valid_index(), series.last_valid_index()
    if first is None:
        log.warning("%s: column %r has no values; skipped", path, col)
        return None
    series = series.loc[first:last]
    gaps = series.isna()
    if gaps.any():
        if not ffill:
            at = series.index[gaps.to_numpy()][0]
            raise DataValidationError(
                f"{path}: column {col!r} has {int(gaps.sum())} missing value(s) inside its history, "
                f"first on {at.date()}. Fix: load_panel(..., ffill=True) carries the last close forward; "
                f"or leave the column out (columns=[...])",
                cli_fix="pass --ffill to carry the last close forward, or --symbol A,B,... without "
                        f"{col!r} to leave it out",
            )
        log.info("%s: column %r: %d missing closes forward-filled", path, col, int(gaps.sum()))
        series = series.ffill()
    bad = series <= 0
    if bad.any():
        raise DataValidationError(
            f"{path}: column {col!r} has a non-positive close {series[bad].iloc[0]!r} on "
            f"{series.index[bad.to_numpy()][0].date()}. Fix: closes must be prices > 0"
        )
    return close_only_frame(series)


def select_columns(wide: pd.DataFrame, columns: Sequence[str] | None, path: Path) -> list[str]:
    """The requested symbols (raw or cleaned names), in the order given; all when ``None``."""
    if columns is None:
        return list(wide.columns)
    names = [clean_symbol(c) for c in columns]
    missing = [n for n in names if n not in wide.columns]
    if missing:
        raise DataValidationError(
            f"{path}: no column(s) {missing}; available: {', '.join(wide.columns)}"
        )
    return names


def load_panel(
    path: str | Path,
    *,
    columns: Sequence[str] | None = None,
    date_col: str | None = None,
    ffill: bool = False,
    date_format: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Load a wide close-only file as ``{symbol: close-only OHLCV frame}``.

    Args:
        path: CSV (optionally ``.gz``) with a date column and one close column per symbol.
        columns: symbols to keep (``'EWA'`` or ``'EWA US Equity'``); all when ``None``.
        date_col: the date column; default the first column named like a date, else the first.
        ffill: forward-fill NaNs inside a column's history instead of raising.
        date_format: strptime format of the dates; default guessed from the values.

    Returns:
        Frames indexed by date with ``open = high = low = close`` and ``volume = 0``,
        each trimmed of its own leading and trailing NaNs.
    """
    path = Path(path)
    wide = read_wide(path, date_col=date_col, date_format=date_format)
    frames: dict[str, pd.DataFrame] = {}
    for col in select_columns(wide, columns, path):
        frame = _column_frame(wide, col, ffill, path)
        if frame is not None:
            frames[col] = frame
    if not frames:
        raise DataValidationError(f"{path}: no usable price columns")
    return frames


def align_frames(frames: Sequence[tuple[str, pd.DataFrame]]) -> Frames:
    """The frames restricted to the timestamps they all share (pairs indicators need this).

    Logs how many bars each feed lost: at INFO, at WARNING when one lost more than 10 %.
    """
    if not frames:
        return []
    common = frames[0][1].index
    for _, df in frames[1:]:
        common = common.intersection(df.index)
    if len(common) == 0:
        names = ", ".join(name for name, _ in frames)
        raise DataValidationError(f"{names}: no timestamp is common to all of them. Fix: use overlapping data")
    dropped = {name: len(df) - len(common) for name, df in frames}
    if any(dropped.values()):
        heavy = any(d > 0.1 * len(df) for (_, df), d in zip(frames, dropped.values()))
        log.log(logging.WARNING if heavy else logging.INFO,
                "aligned %d feeds on the %d timestamps they share (%s .. %s); bars dropped: %s", len(frames),
                 len(common), common[0], common[-1], ", ".join(f"{n} {d}" for n, d in dropped.items()))
    return [(name, df.loc[common]) for name, df in frames]
