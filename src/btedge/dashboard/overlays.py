"""The chart's indicators computed from a bar frame with :mod:`btedge.kernels`: support and
resistance, the Laguerre filter and the Lorentzian anomaly score with its threshold, with the same
formulas as :class:`~btedge.indicators.SupportResistance`, :class:`~btedge.indicators.LaguerreFilter`
and :class:`~btedge.indicators.LorentzianDistance` (each value uses bars up to its own only)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from btedge.kernels import laguerre_filter_series, lorentzian_score


@dataclass(frozen=True)
class OverlayParams:
    """Params of the chart's indicators (the indicators' defaults, a shorter anomaly window)."""

    sr_period: int = 20
    gamma: float = 0.5
    anomaly_period: int = 50
    anomaly_k: float = 3.0
    scale: float = 100.0


def overlays(bars: pd.DataFrame, params: OverlayParams = OverlayParams()) -> pd.DataFrame:
    """``support``, ``resistance``, ``laguerre``, ``score``, ``threshold`` and ``flag`` for each bar
    of ``bars`` (columns ``open, high, low, close``); NaN where a window is not full yet.

    Formula:
      - support = Lowest(low, sr_period); resistance = Highest(high, sr_period)
      - laguerre = LaguerreFilter(close, gamma), seeded with the first close
      - score = log(1 + (r - r(-1))^2), r = close / close(-1) - 1 in percent
      - threshold = mean + k * std (population) of the ``anomaly_period`` scores before the bar
    """
    close = bars["close"].to_numpy(dtype=float)
    out = pd.DataFrame(index=bars.index)
    period = int(params.sr_period)
    out["support"] = bars["low"].astype(float).rolling(period, min_periods=period).min()
    out["resistance"] = bars["high"].astype(float).rolling(period, min_periods=period).max()
    out["laguerre"] = laguerre_filter_series(close, params.gamma) if len(close) else np.array([])
    returns = np.full(close.shape, np.nan)
    if len(close) > 1:
        returns[1:] = (close[1:] / close[:-1] - 1.0) * params.scale
    score = pd.Series(lorentzian_score(returns) if len(close) else np.array([]), index=bars.index)
    past = score.shift(1).rolling(params.anomaly_period, min_periods=params.anomaly_period)
    out["score"] = score
    out["threshold"] = past.mean() + params.anomaly_k * past.std(ddof=0)
    out["flag"] = (out["score"] > out["threshold"]).astype(float).where(out["threshold"].notna())
    return out
