"""Lorentzian-distance anomaly score on returns."""
from __future__ import annotations

import backtrader as bt
import numpy as np

from btedge.kernels import as_line_array, from_line_array, lorentzian_score

__all__ = ["LorentzianScore", "LorentzianDistance"]


class LorentzianScore(bt.Indicator):
    """
    Lorentzian distance between consecutive bar returns.

    Formula:
      - r = (data / data(-1) - 1) * scale
      - score = log(1 + (r - r(-1)) ** 2)

    The log compresses large shocks, so one outlier does not dominate a rolling threshold
    the way a squared distance would.

    Params:
      - ``scale`` (default: ``100.0``): returns in percent, so that log(1 + x^2) departs from x^2
        at moves of about 1%

    See:
      - jdehorty, *Machine Learning: Lorentzian Classification* (TradingView), distance
        d(x, y) = sum log(1 + |x_i - y_i|)
    """

    lines = ("score",)
    params = (("scale", 100.0),)
    plotinfo = dict(subplot=True)

    def __init__(self) -> None:
        if not self.p.scale > 0:
            raise ValueError(f"scale must be > 0, got {self.p.scale!r}")
        self.addminperiod(3)

    def next(self) -> None:
        d = self.data
        r0 = (d[0] / d[-1] - 1.0) * self.p.scale
        r1 = (d[-1] / d[-2] - 1.0) * self.p.scale
        self.lines.score[0] = float(np.log1p((r0 - r1) ** 2))

    def once(self, start: int, end: int) -> None:
        lo = max(start - 2, 0)
        x = from_line_array(self.data.array, lo, end)
        score = lorentzian_score((x[1:] / x[:-1] - 1.0) * self.p.scale)
        out = score[start - lo - 1:]
        self.lines.score.array[start:end] = as_line_array(out)


class LorentzianDistance(bt.Indicator):
    """
    Lorentzian anomaly score with a rolling threshold and a flag.

    Formula:
      - score = LorentzianScore(data, scale)
      - threshold = SMA(score(-1), period) + k * StdDev(score(-1), period)
      - flag = score > threshold (1.0 or 0.0)

    The threshold uses the ``period`` scores before the current bar only.

    Params:
      - ``period`` (default: ``100``): bars in the rolling threshold
      - ``k`` (default: ``3.0``): standard deviations above the mean that count as anomalous
      - ``scale`` (default: ``100.0``): as :class:`LorentzianScore`

    See:
      - :class:`LorentzianScore`
    """

    alias = ("LorentzianAnomaly",)
    lines = ("score", "threshold", "flag")
    params = (("period", 100), ("k", 3.0), ("scale", 100.0))
    plotinfo = dict(subplot=True)

    def _plotlabel(self) -> list:
        return [self.p.period, self.p.k]
    plotlines = dict(flag=dict(_plotskip=True), threshold=dict(ls="--"))

    def __init__(self) -> None:
        if int(self.p.period) < 2:
            raise ValueError(f"period must be >= 2, got {self.p.period!r}")
        if self.p.k < 0:
            raise ValueError(f"k must be >= 0, got {self.p.k!r}")
        score = LorentzianScore(self.data, scale=self.p.scale)
        past = score(-1)
        period = int(self.p.period)
        self.lines.score = score
        self.lines.threshold = bt.ind.SMA(past, period=period) + self.p.k * bt.ind.StdDev(past, period=period)
        self.lines.flag = score > self.lines.threshold
