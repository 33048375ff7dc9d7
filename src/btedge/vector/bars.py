"""OHLC arrays from a DataFrame, read the way :class:`~btedge.feeds.FrameData` reads them."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd


class Bars(NamedTuple):
    """Float64 OHLC arrays of one instrument."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray

    def window(self, start: int, stop: int) -> "Bars":
        return Bars(*(np.ascontiguousarray(a[start:stop]) for a in self))


def _column(df: pd.DataFrame, name: str) -> np.ndarray | None:
    lower = {str(c).lower(): c for c in df.columns}
    col = lower.get(name)
    return None if col is None else df[col].to_numpy(dtype=float)


def bars_from_frame(df: pd.DataFrame) -> Bars:
    """Columns found by name, case-insensitive; a missing open, high or low is the close
    (as FrameData fills them)."""
    close = _column(df, "close")
    if close is None:
        raise ValueError(f"no close column; columns are {list(df.columns)}")
    cols = [_column(df, name) for name in ("open", "high", "low")]
    return Bars(*(np.ascontiguousarray(close if c is None else c) for c in cols), np.ascontiguousarray(close))
