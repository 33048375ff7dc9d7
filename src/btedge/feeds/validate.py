"""Checks an OHLCV DataFrame before a run, and reports gaps in its timestamps.

:func:`validate_ohlcv` raises one :class:`DataValidationError` for the first problem found, with
the source, how many rows are affected, the first one (1-based row, timestamp and, for a file,
its line) and the fix. ``load_csv`` runs it on every file; call it on any frame of your own.

Open or close outside [low, high] is *tolerated* by default (``bounds="warn"``): real vendor
files do this (``bytetheory_sp500_members_ohlcv_2009-2010`` has 78 bars in 45 symbols whose
open lies up to 4 % outside the day's range: the open comes from a different print than the
high/low). Rejecting them would reject real data, silently widening the range would hide it,
so the default logs a warning with the count and the first row; ``bounds="raise"`` makes it an
error and ``bounds="widen"`` stretches high/low to cover open and close (on a copy).
High below low is always an error: no real bar has it, it means swapped or shifted columns.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from btedge.feeds.errors import DataValidationError

log = logging.getLogger(__name__)

PRICE_COLUMNS = ("open", "high", "low", "close")
BOUNDS_POLICIES = ("warn", "raise", "widen")


@dataclass(frozen=True)
class _Where:
    """Maps frame rows to human positions: 1-based row, timestamp, file line when known."""

    index: pd.Index
    line_numbers: np.ndarray | None

    def describe(self, pos: int) -> str:
        where = f"row {pos + 1} ({self.index[pos]}"
        if self.line_numbers is not None:
            where += f", file line {int(self.line_numbers[pos])}"
        return where + ")"


def _fail(source: str, problem: str, mask: np.ndarray, where: _Where, fix: str, cli_fix: str | None = None) -> None:
    bad = np.flatnonzero(mask)
    raise DataValidationError(
        f"{source}: {problem} in {len(bad)} row(s); first at {where.describe(int(bad[0]))}. Fix: {fix}",
        cli_fix=cli_fix,
    )


def _find_columns(df: pd.DataFrame, source: str) -> dict[str, object]:
    """Case-insensitive lookup of the OHLC(V) columns; missing prices raise."""
    lower = {str(c).lower(): c for c in df.columns}
    missing = [name for name in PRICE_COLUMNS if name not in lower]
    if missing:
        raise DataValidationError(
            f"{source}: missing column(s) {missing}; columns are {[str(c) for c in df.columns]}. "
            "Fix: rename them, e.g. df.rename(columns={'Close': 'close'}), or load the file with "
            "btedge.feeds.load_csv(path, close='<column name>')."
        )
    return {name: lower[name] for name in (*PRICE_COLUMNS, "volume") if name in lower}


def _numeric(df: pd.DataFrame, columns: dict[str, object], source: str) -> dict[str, np.ndarray]:
    arrays = {}
    for name, col in columns.items():
        series = df[col]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise DataValidationError(
                f"{source}: column {col!r} has dtype {series.dtype}, not numbers "
                f"(first value {series.iloc[0]!r}). Fix: df[{col!r}] = pd.to_numeric(df[{col!r}]) "
                "after cleaning the bad values."
            )
        arrays[name] = series.to_numpy(dtype=float)
    return arrays


def _check_index(df: pd.DataFrame, source: str, where: _Where) -> None:
    if not isinstance(df.index, pd.DatetimeIndex):
        raise DataValidationError(
            f"{source}: the index is {type(df.index).__name__}, not a DatetimeIndex. "
            "Fix: df = df.set_index(pd.to_datetime(df['<date column>'])), or use btedge.feeds.load_csv."
        )
    nat = np.asarray(df.index.isna())
    if nat.any():
        _fail(source, "missing timestamp (NaT)", nat, where, "drop those rows: df = df[df.index.notna()]")


def _check_values(arrays: dict[str, np.ndarray], source: str, where: _Where) -> None:
    prices = np.column_stack([arrays[name] for name in PRICE_COLUMNS])
    nan = np.isnan(prices).any(axis=1)
    if "volume" in arrays:
        nan |= np.isnan(arrays["volume"])
    if nan.any():
        _fail(source, "NaN price or volume", nan, where,
              "drop or forward-fill NaN rows: df.dropna() or df.ffill()",
              "remove or fill those rows in the file (btedge does not guess missing prices)")
    if np.isinf(prices).any():
        _fail(source, "infinite price", np.isinf(prices).any(axis=1), where,
              "drop those rows or fix the source", "remove those rows from the file")
    nonpos = (prices <= 0).any(axis=1)
    if nonpos.any():
        _fail(source, "non-positive price (<= 0)", nonpos, where,
              "prices must be > 0; drop those rows: df = df[(df[['open', 'high', 'low', 'close']] > 0).all(axis=1)]",
              "prices must be > 0; remove those rows from the file")
    inverted = arrays["high"] < arrays["low"]
    if inverted.any():
        _fail(source, "high below low", inverted, where,
              "check the column order/mapping (high and low swapped?) or drop those rows",
              "check the header (high and low swapped?) or remove those rows from the file")
    if "volume" in arrays and (arrays["volume"] < 0).any():
        _fail(source, "negative volume", arrays["volume"] < 0, where,
              "volume must be >= 0; fix the source or set df['volume'] = df['volume'].clip(lower=0)",
              "volume must be >= 0; fix those rows in the file")


def _outside_range(arrays: dict[str, np.ndarray]) -> np.ndarray:
    high, low = arrays["high"], arrays["low"]
    return ((arrays["open"] > high) | (arrays["open"] < low)
            | (arrays["close"] > high) | (arrays["close"] < low))


def _check_bounds(df: pd.DataFrame, arrays: dict[str, np.ndarray], columns: dict[str, object],
                  source: str, where: _Where, bounds: str) -> pd.DataFrame:
    outside = _outside_range(arrays)
    if not outside.any():
        return df
    problem = "open or close outside [low, high]"
    fix = "pass bounds='widen' to stretch high/low over open/close, or drop those rows"
    if bounds == "raise":
        _fail(source, problem, outside, where, fix, "remove those rows from the file")
    if bounds == "widen":
        df = df.copy()
        oc = np.column_stack([arrays["open"], arrays["close"]])
        df[columns["high"]] = np.maximum(arrays["high"], oc.max(axis=1))
        df[columns["low"]] = np.minimum(arrays["low"], oc.min(axis=1))
        log.info("%s: widened high/low over open/close in %d row(s)", source, int(outside.sum()))
        return df
    first = int(np.flatnonzero(outside)[0])
    log.warning("%s: %s in %d row(s) (tolerated); first at %s. To change: %s",
                source, problem, int(outside.sum()), where.describe(first), fix)
    return df


def _check_order(df: pd.DataFrame, source: str, where: _Where) -> None:
    stamps = df.index.asi8 if isinstance(df.index, pd.DatetimeIndex) else np.asarray(df.index)
    step = np.diff(stamps)
    dup = np.concatenate([[False], step == 0])
    if dup.any():
        _fail(source, "duplicate timestamp", dup, where,
              "keep one bar per timestamp: df = df[~df.index.duplicated(keep='last')] (load_csv(path, "
              "sort=True) drops rows that repeat timestamp and values exactly)",
              "pass --sort to drop rows that repeat timestamp and values exactly; bars that differ under "
              "one timestamp must be fixed in the file")
    back = np.concatenate([[False], step < 0])
    if back.any():
        _fail(source, "timestamp earlier than the row before (unsorted)", back, where,
              "sort it: df = df.sort_index() (or load_csv(path, sort=True))", "pass --sort")


def validate_ohlcv(
    df: pd.DataFrame,
    source: str = "<DataFrame>",
    *,
    bounds: str = "warn",
    line_numbers: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Check ``df`` is usable OHLCV data before a run.

    Checks, in order: DatetimeIndex without NaT, open/high/low/close columns (any case), numeric
    dtypes, NaN and infinite values, prices > 0, high >= low, volume >= 0, open and close inside
    [low, high], no duplicate timestamps, ascending timestamps.

    Args:
        df: OHLCV frame indexed by timestamp (``volume`` optional).
        source: name used in messages (a file path, a ticker).
        bounds: open/close outside [low, high]: ``"warn"`` (log, keep), ``"raise"``, or
            ``"widen"`` (stretch high/low over them, on a copy). See the module docstring.
        line_numbers: the file line of each row, so that messages can name it.

    Returns:
        ``df`` itself (a widened copy with ``bounds="widen"`` when some bar needed it).

    Raises:
        DataValidationError: the first problem found, with the count of affected rows, the first
            one (1-based row, timestamp, file line) and the fix.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError(f"{source}: expected a pandas DataFrame, got {type(df).__name__}")
    if bounds not in BOUNDS_POLICIES:
        raise ValueError(f"bounds must be one of {BOUNDS_POLICIES}, got {bounds!r}")
    if len(df) == 0:
        raise DataValidationError(f"{source}: no rows. Fix: check the file, the symbol and the date range")
    lines = None if line_numbers is None else np.asarray(line_numbers)
    if lines is not None and len(lines) != len(df):
        raise ValueError(f"line_numbers has {len(lines)} entries for {len(df)} rows")
    where = _Where(df.index, lines)
    _check_index(df, source, where)
    columns = _find_columns(df, source)
    arrays = _numeric(df, columns, source)
    _check_values(arrays, source, where)
    df = _check_bounds(df, arrays, columns, source, where, bounds)
    _check_order(df, source, where)
    return df


@dataclass(frozen=True)
class GapReport:
    """Spacing gaps in a timestamp index: the ``top`` largest and how many exceed ``expected``."""

    expected: pd.Timedelta
    count: int
    bars: int
    missing_bars: int
    largest: tuple[tuple[pd.Timestamp, pd.Timestamp, pd.Timedelta], ...]

    def summary(self) -> str:
        """One line for a log: count, expected spacing and the largest gaps."""
        if not self.count:
            return f"no gaps over {self.bars:,} bars (spacing {self.expected})"
        worst = "; ".join(f"{a} -> {b} ({d})" for a, b, d in self.largest)
        return (f"{self.count:,} gap(s) over {self.bars:,} bars (expected spacing {self.expected}, "
                f"~{self.missing_bars:,} bars missing); largest: {worst}")

    __str__ = summary


def find_gaps(df: pd.DataFrame | pd.DatetimeIndex, expected: str | pd.Timedelta | None = None,
              top: int = 5) -> GapReport:
    """Report steps between consecutive timestamps longer than ``expected``.

    Not an error: weekends, holidays and overnight sessions are gaps too; log ``summary()``.

    Args:
        df: a frame with a DatetimeIndex, or the index itself.
        expected: the normal bar spacing (``"1min"``, a Timedelta); default the median step.
        top: how many of the largest gaps to keep.

    Returns:
        A :class:`GapReport` (count, estimated missing bars, largest gaps).
    """
    index = df if isinstance(df, pd.DatetimeIndex) else df.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataValidationError(f"find_gaps needs a DatetimeIndex, got {type(index).__name__}")
    if top < 0:
        raise ValueError(f"top must be >= 0, got {top}")
    steps = index[1:] - index[:-1]
    if expected is None:
        expected = steps.median() if len(steps) else pd.Timedelta(0)
    expected = pd.Timedelta(expected)
    if expected <= pd.Timedelta(0) and len(steps):
        raise ValueError(f"expected spacing must be > 0, got {expected}")
    is_gap = np.asarray(steps > expected)
    gap_pos = np.flatnonzero(is_gap)
    sizes = steps[gap_pos]
    order = np.argsort(-sizes.asi8, kind="stable")[:top]
    largest = tuple((index[gap_pos[i]], index[gap_pos[i] + 1], sizes[i]) for i in order)
    missing = int(np.floor(np.asarray(sizes / expected) - 1).sum()) if len(sizes) else 0
    return GapReport(expected, len(gap_pos), len(index), missing, largest)
