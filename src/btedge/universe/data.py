"""Inputs of universe selection: a wide close table and the GICS sectors used as ground truth."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: Minimum bars a window needs for returns, volatility and clustering to mean anything.
MIN_BARS = 20


def load_closes(path: str | Path) -> pd.DataFrame:
    """A wide close table (index = dates, one column per ticker) from a CSV.

    Accepts the wide layout (first column dates, then one column per ticker) and the long layout
    with ``Date``, ``Symbol`` and ``Close`` columns (``Date`` as ``YYYY-MM-DD`` or ``YYYYMMDD``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; give a wide or long close CSV")
    raw = pd.read_csv(path)
    lower = {c.lower(): c for c in raw.columns}
    if {"date", "symbol", "close"} <= set(lower):
        dates = _parse_dates(raw[lower["date"]], path)
        wide = raw.assign(_date=dates).pivot_table(
            index="_date", columns=lower["symbol"], values=lower["close"], aggfunc="last"
        )
        wide.index.name = "Date"
        wide.columns.name = None
    else:
        wide = raw.set_index(raw.columns[0])
        wide.index = _parse_dates(wide.index.to_series(), path)
    bad = [c for c in wide.columns if not pd.api.types.is_numeric_dtype(wide[c])]
    if bad:
        raise ValueError(f"{path}: columns {bad[:5]} are not numeric closes; the file must hold closes only")
    return wide.sort_index()


def _parse_dates(values: pd.Series, path: Path) -> pd.DatetimeIndex:
    text = values.astype(str)
    fmt = "%Y%m%d" if text.str.fullmatch(r"\d{8}").all() else None
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise ValueError(f"{path}: row {row + 2}: date {text.iloc[row]!r} is not a date (YYYY-MM-DD or YYYYMMDD)")
    return pd.DatetimeIndex(parsed)


def load_gics(path: str | Path) -> pd.Series:
    """Ticker → GICS sector from a constituents CSV with ``Symbol`` and ``GICS Sector`` columns."""
    table = pd.read_csv(path)
    missing = {"Symbol", "GICS Sector"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}; need 'Symbol' and 'GICS Sector'")
    return table.drop_duplicates("Symbol").set_index("Symbol")["GICS Sector"].rename("sector")


def window(closes: pd.DataFrame, asof: str | pd.Timestamp | None = None, lookback: int | None = None) -> pd.DataFrame:
    """The closes known at ``asof`` (inclusive), the last ``lookback`` bars of them, gaps filled.

    Every selection function starts here, so nothing after ``asof`` can influence its result.
    Tickers with fewer than ``MIN_BARS`` prices in the window are dropped (logged); gaps are
    filled forward, and a ticker listed mid-window is held flat at its first price before it
    (both within the window). An empty or too short window raises.
    """
    if not isinstance(closes, pd.DataFrame) or not isinstance(closes.index, pd.DatetimeIndex):
        raise ValueError("closes must be a wide DataFrame with a DatetimeIndex (dates × tickers)")
    if not closes.index.is_monotonic_increasing:
        raise ValueError("closes index must be sorted ascending by date; call closes.sort_index()")
    if lookback is not None and lookback < MIN_BARS:
        raise ValueError(f"lookback must be >= {MIN_BARS} bars or None (all), got {lookback!r}")
    sliced = closes if asof is None else closes.loc[: pd.Timestamp(asof)]
    if lookback is not None:
        sliced = sliced.iloc[-lookback:]
    empty = sliced.columns[sliced.notna().sum() < MIN_BARS]
    if len(empty):
        log.warning("dropping %d ticker(s) with < %d prices up to %s: %s", len(empty), MIN_BARS, asof, list(empty)[:10])
        sliced = sliced.drop(columns=empty)
    if len(sliced) < MIN_BARS or sliced.shape[1] < 2:
        raise ValueError(
            f"only {len(sliced)} bars × {sliced.shape[1]} tickers up to asof={asof}; need >= {MIN_BARS} bars "
            "and 2 tickers (move asof later or lengthen lookback)"
        )
    if (sliced <= 0).any().any():
        raise ValueError("closes must be positive prices (log returns are taken); found a value <= 0")
    return sliced.ffill().bfill()


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year from the median spacing: 252 for daily bars, else calendar time (365.25 / step)."""
    step_days = float(np.median(np.diff(index.as_unit("ns").asi8))) / 86400e9
    return 252.0 if 0.9 <= step_days < 5 else 365.25 / step_days
