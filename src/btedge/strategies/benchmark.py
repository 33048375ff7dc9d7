"""Buy-and-hold: the benchmark beside every result."""
from __future__ import annotations

from btedge.strategies.base import LONG, BaseStrategy
from btedge.strategies.registry import register

__all__ = ["BuyAndHold"]


@register("buy_and_hold")
class BuyAndHold(BaseStrategy):
    """Buy the first data on the first bar (``fraction`` of the cash) and hold it."""

    def target(self) -> int:
        return LONG

    @classmethod
    def vector_signals(cls, bars, params: dict):
        """Always long, from the first bar, for :mod:`btedge.vector`."""
        import numpy as np

        from btedge.vector.signals import Signals

        return Signals(np.full(len(bars.close), LONG, dtype=np.int8), first=0)
