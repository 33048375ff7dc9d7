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


def _rolling(values: np.ndarray, period: int, how: str) -> np.ndarray:
    """``how`` (min, max, mean, std) over each full window of ``period`` values ending at each
    element; NaN before the first full window and wherever the window holds a NaN (as pandas'
    ``rolling(period, min_periods=period)``)."""
    out = np.full(values.shape, np.nan)
    if period >= 1 and len(values) >= period:
        windows = np.lib.stride_tricks.sliding_window_view(values, period)
        out[period - 1:] = {"min": np.min, "max": np.max, "mean": np.mean, "std": np.std}[how](windows, axis=1)
    return out


def overlay_arrays(high: np.ndarray, low: np.ndarray, close: np.ndarray,
                   params: OverlayParams = OverlayParams()) -> dict[str, np.ndarray]:
    """:func:`overlays` on plain arrays (numpy only: the co-pilot's worker calls it on every bar)."""
    high, low, close = (np.asarray(a, dtype=float) for a in (high, low, close))
    period = int(params.sr_period)
    returns = np.full(close.shape, np.nan)
    if len(close) > 1:
        returns[1:] = (close[1:] / close[:-1] - 1.0) * params.scale
    score = lorentzian_score(returns) if len(close) else np.array([])
    past = np.full(score.shape, np.nan)
    past[1:] = score[:-1]
    n = int(params.anomaly_period)
    threshold = _rolling(past, n, "mean") + params.anomaly_k * _rolling(past, n, "std")
    with np.errstate(invalid="ignore"):
        flag = np.where(np.isnan(threshold), np.nan, (score > threshold).astype(float))
    return {"support": _rolling(low, period, "min"), "resistance": _rolling(high, period, "max"),
            "laguerre": laguerre_filter_series(close, params.gamma) if len(close) else np.array([]),
            "score": score, "threshold": threshold, "flag": flag}


def overlays(bars: pd.DataFrame, params: OverlayParams = OverlayParams()) -> pd.DataFrame:
    """``support``, ``resistance``, ``laguerre``, ``score``, ``threshold`` and ``flag`` for each bar
    of ``bars`` (columns ``open, high, low, close``); NaN where a window is not full yet.

    Formula:
      - support = Lowest(low, sr_period); resistance = Highest(high, sr_period)
      - laguerre = LaguerreFilter(close, gamma), seeded with the first close
      - score = log(1 + (r - r(-1))^2), r = close / close(-1) - 1 in percent
      - threshold = mean + k * std (population) of the ``anomaly_period`` scores before the bar
    """
    arrays = overlay_arrays(bars["high"].to_numpy(dtype=float), bars["low"].to_numpy(dtype=float),
                            bars["close"].to_numpy(dtype=float), params)
    return pd.DataFrame(arrays, index=bars.index)
