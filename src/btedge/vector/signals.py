"""What a strategy wants, bar by bar, as arrays: the vector engine's input.

A single-instrument :class:`~btedge.strategies.base.BaseStrategy` says where it wants to be with
``target()``, which may read the current side. :class:`Signals` encodes that per bar without the
side, so the simulator can evaluate it as it goes:

- ``side[i]`` is +1 (long), -1 (short), 0 (flat) or :data:`KEEP` (stay on the current side);
- when ``side[i]`` is ``KEEP``, ``exit_long[i]`` / ``exit_short[i]`` turn "stay long" / "stay
  short" into "go flat" (the channel breakout's exit at the middle line);
- ``allowed[i]`` is the entry gate (``entry_allowed``): False blocks new entries, never exits;
- ``atr[i]`` is the ATR used by ``sizing='atr'`` (NaN otherwise);
- ``first`` is the first bar on which backtrader calls ``next()`` (the strategy's minimum period).

The helpers reproduce backtrader's and btedge's indicator arithmetic operation by operation
(``math.fsum`` means, ``**`` powers, the same array slices), so the arrays are bit-identical to the
indicator lines and the vector engine's decisions equal ``BaseStrategy``'s.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from btedge.kernels import lorentzian_score

__all__ = ["KEEP", "Signals", "compare_array", "atr_array", "anomaly_flag", "rolling_std_once", "entry_gate"]

#: ``side`` value meaning "keep the current side" (the strategy returned ``self._side()``).
KEEP = 2

#: Relative tie tolerance, as :data:`btedge.strategies.base.TIE` (kept equal by a test).
TIE = 1e-12


@dataclass
class Signals:
    """A strategy's wishes as arrays (see the module docstring)."""

    side: np.ndarray
    first: int
    exit_long: np.ndarray | None = None
    exit_short: np.ndarray | None = None
    allowed: np.ndarray | None = None
    atr: np.ndarray | None = None

    def arrays(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(side int8, exit_long bool, exit_short bool, allowed bool, atr float) of length ``n``."""
        false = np.zeros(n, dtype=np.bool_)
        return (
            np.ascontiguousarray(self.side, dtype=np.int8),
            false if self.exit_long is None else np.ascontiguousarray(self.exit_long, dtype=np.bool_),
            false if self.exit_short is None else np.ascontiguousarray(self.exit_short, dtype=np.bool_),
            np.ones(n, dtype=np.bool_) if self.allowed is None else np.ascontiguousarray(self.allowed, dtype=np.bool_),
            np.full(n, np.nan) if self.atr is None else np.ascontiguousarray(self.atr, dtype=float),
        )


def compare_array(a: np.ndarray, b: np.ndarray, rel: float = TIE) -> np.ndarray:
    """Vectorised :func:`btedge.strategies.base.compare`: +1, -1, or 0 for a tie or NaN (int8)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore"):
        tie = ~(np.isfinite(a) & np.isfinite(b)) | (np.abs(a - b) <= rel * np.maximum(np.abs(a), np.abs(b)))
        out = np.where(a > b, 1, -1).astype(np.int8)
    out[tie] = 0
    return out


def _fsum_means(x: list[float], period: int, first: int) -> list[float]:
    """``math.fsum(x[i - period + 1:i + 1]) / period`` for i >= first (backtrader's Average)."""
    out = [math.nan] * len(x)
    for i in range(first, len(x)):
        out[i] = math.fsum(x[i - period + 1:i + 1]) / period
    return out


def atr_array(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """``bt.ind.ATR(period)``: Wilder smoothing of the true range, seeded with its mean.

    Valid from bar ``period`` (the true range needs the previous close).
    """
    n = len(close)
    out = np.full(n, math.nan)
    if n <= period:
        return out
    h, lo, c = high.tolist(), low.tolist(), close.tolist()
    tr = [math.nan] + [max(h[i], c[i - 1]) - min(lo[i], c[i - 1]) for i in range(1, n)]
    alpha = 1.0 / period
    alpha1 = 1.0 - alpha
    prev = math.fsum(tr[1:period + 1]) / period
    out[period] = prev
    for i in range(period + 1, n):
        prev = prev * alpha1 + tr[i] * alpha
        out[i] = prev
    return out


def anomaly_flag(close: np.ndarray, period: int, k: float, scale: float = 100.0) -> np.ndarray:
    """``LorentzianDistance(period, k, scale).flag`` (bool; False before its minimum period).

    score = log1p(diff(r)^2) on scaled returns; threshold = SMA(score(-1)) + k * StdDev(score(-1))
    with backtrader's SMA (fsum) and StdDev (sqrt |mean(x^2) - mean(x)^2|); valid from bar
    ``period + 2``.
    """
    x = np.asarray(close, dtype=float)
    n = len(x)
    flag = np.zeros(n, dtype=np.bool_)
    first = period + 2
    if n <= first:
        return flag
    score = np.full(n, math.nan)
    score[1:] = lorentzian_score((x[1:] / x[:-1] - 1.0) * scale)
    past = [math.nan] + score[:-1].tolist()
    squares = [v ** 2 for v in past]
    mean = _fsum_means(past, period, first)
    meansq = _fsum_means(squares, period, first)
    s = score.tolist()
    for i in range(first, n):
        std = abs(meansq[i] - mean[i] ** 2) ** 0.5
        flag[i] = s[i] > mean[i] + k * std
    return flag


def rolling_std_once(x: np.ndarray, period: int) -> np.ndarray:
    """``RollingStd(period)`` as backtrader's runonce computes it: ``once()`` on bar
    ``period - 1`` alone, then on the rest (the same slices, so the same rounding)."""
    n = len(x)
    out = np.full(n, math.nan)
    for start, end in ((period - 1, period), (period, n)):
        if start >= end:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(x[start - period + 1:end], period)
        out[start:end] = np.std(windows, axis=-1)
    return out


def entry_gate(bars: Any, params: dict, first: int) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    """BaseStrategy's anomaly gate and ATR from its params: (allowed, atr, first bar), memoised
    on the :class:`~btedge.vector.bars.Bars`."""
    allowed = atr = None
    if params.get("anomaly", "off") != "off":
        period, k = int(params.get("anomaly_period", 100)), float(params.get("anomaly_k", 3.0))
        flag = bars.memoised(("anomaly", period, k), lambda: anomaly_flag(bars.close, period, k))
        allowed = flag if params["anomaly"] == "only" else ~flag
        first = max(first, period + 2)
    if params.get("sizing", "fraction") == "atr":
        period = int(params.get("atr_period", 14))
        atr = bars.memoised(("atr", period), lambda: atr_array(bars.high, bars.low, bars.close, period))
        first = max(first, period)
    return allowed, atr, first
