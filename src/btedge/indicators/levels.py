"""Support and resistance from rolling extremes."""
from __future__ import annotations

import backtrader as bt

__all__ = ["SupportResistance"]


class SupportResistance(bt.Indicator):
    """
    Rolling support (lowest low) and resistance (highest high).

    Formula:
      - support = Lowest(low, period)
      - resistance = Highest(high, period)

    Both include the current bar; compare a close with ``support(-1)`` / ``resistance(-1)`` to
    detect a break of the levels known before the bar.

    Params:
      - ``period`` (default: ``20``): bars in the window

    See:
      - Murphy, *Technical Analysis of the Financial Markets*, NYIF, 1999, ch. 4
    """

    alias = ("SR",)
    lines = ("support", "resistance")
    params = (("period", 20),)
    plotinfo = dict(subplot=False)

    def __init__(self) -> None:
        if int(self.p.period) < 1:
            raise ValueError(f"period must be >= 1, got {self.p.period!r}")
        if not all(hasattr(self.data, name) for name in ("high", "low")):
            raise ValueError("SupportResistance needs a data feed with high and low lines")
        self.lines.support = bt.ind.Lowest(self.data.low, period=int(self.p.period))
        self.lines.resistance = bt.ind.Highest(self.data.high, period=int(self.p.period))
