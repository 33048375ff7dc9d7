"""OHLC arrays from a DataFrame, read the way :class:`~btedge.feeds.FrameData` reads them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from btedge.kernels import laguerre_filter_series


@dataclass(frozen=True, eq=False)
class Bars:
    """Float64 OHLC arrays of one instrument, with a memo of what is computed from them (a sweep
    computes each filter once per window, however many parameter sets share it)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    memo: dict = field(default_factory=dict, repr=False)

    def memoised(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``key`` for these bars."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]

    def laguerre(self, gamma: float, seed: bool = True) -> np.ndarray:
        """:func:`btedge.kernels.laguerre_filter_series` of the closes (what ``LaguerreFilter.once`` gives)."""
        return self.memoised(("laguerre", float(gamma), bool(seed)),
                             lambda: laguerre_filter_series(self.close, gamma, seed))


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
