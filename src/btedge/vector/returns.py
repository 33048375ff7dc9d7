"""The Performance analyzer's figures from a value-per-bar array, without a cerebro run.

:class:`~btedge.analyzers.Performance` records the value at each bar's close and computes its
figures at ``stop()``; :func:`performance` does the same from arrays, with the same pieces
(``period_keys``, :func:`btedge.metrics.period_returns`, :func:`btedge.metrics.performance_stats`,
:func:`btedge.feeds.timestamps.infer_spacing`) and the feed timeframe the engine declares.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def bar_stamps(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The bars' timestamps as backtrader reports them: naive, UTC for tz-aware input."""
    index = pd.DatetimeIndex(index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return pd.DatetimeIndex(index.as_unit("ns"), name="datetime")


def returns_series(value: np.ndarray, stamps: pd.DatetimeIndex, start_value: float) -> pd.Series:
    """TimeReturn's returns, one per period of the feed's timeframe (as the engine infers it)."""
    from btedge.analyzers.performance import period_keys
    from btedge.engine import infer_timeframe
    from btedge.metrics import period_returns

    timeframe, compression = infer_timeframe(stamps)
    keys = period_keys(stamps, timeframe, compression)
    if not len(keys):
        return pd.Series([], index=stamps, dtype=float, name="returns")
    ends = np.append(np.flatnonzero(np.diff(keys) > 0), len(keys) - 1)
    return pd.Series(period_returns(value, start_value, ends), index=stamps[ends], dtype=float, name="returns")


def performance(value: np.ndarray, position: np.ndarray, index: pd.DatetimeIndex, start_value: float,
                periods_per_year: float | None, riskfree: float = 0.0) -> tuple[dict[str, Any], pd.Series]:
    """(metrics, returns) as :class:`~btedge.analyzers.Performance` reports them for a run whose
    value and position at each bar's close are given."""
    from btedge.feeds.timestamps import infer_spacing
    from btedge.metrics import performance_stats

    stamps = bar_stamps(index)
    returns = returns_series(value, stamps, start_value)
    spacing = infer_spacing(returns.index) if returns.index.nunique() >= 3 else None
    if periods_per_year is not None:
        ppy = float(periods_per_year)
    elif spacing is None:
        log.warning("Performance: fewer than 3 return periods, periods_per_year unknown (NaN)")
        ppy = math.nan
    else:
        ppy = spacing.periods_per_year
    stats = performance_stats(returns, ppy if math.isfinite(ppy) else 1.0, riskfree)
    if not math.isfinite(ppy):
        stats.update(cagr=math.nan, volatility=math.nan, sharpe=math.nan, sortino=math.nan, calmar=math.nan)
    bars = len(value)
    stats.update(
        exposure=float(np.mean(np.asarray(position) != 0.0)) if bars else math.nan,
        bars=bars,
        first_bar=stamps[0] if bars else None,
        last_bar=stamps[-1] if bars else None,
        timeframe=spacing.timeframe_name if spacing else None,
        periods_per_year=ppy,
        riskfree=float(riskfree),
    )
    return stats, returns
