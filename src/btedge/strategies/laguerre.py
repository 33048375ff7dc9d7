"""Laguerre strategies: filter cross, price-vs-filter trend, channel breakout."""
from __future__ import annotations

import numpy as np

from btedge.indicators.laguerre import LaguerreChannel, LaguerreFilter
from btedge.strategies.base import FLAT, LONG, SHORT, BaseStrategy, compare
from btedge.strategies.registry import register

__all__ = ["LaguerreCross", "LaguerreTrend", "LaguerreChannelBreakout"]


@register("laguerre_cross")
class LaguerreCross(BaseStrategy):
    """
    Long while a fast Laguerre filter is above a slow one, short (or flat) while below.

    Params (plus :class:`BaseStrategy`'s risk and sizing params):
      - ``gamma_fast`` (default: ``0.2``), ``gamma_slow`` (default: ``0.8``): filter gammas;
        fast must be lower than slow
      - ``seed`` (default: ``True``): seeded filters (no start-up transient)
    """

    params = (("gamma_fast", 0.2), ("gamma_slow", 0.8), ("seed", True))

    def __init__(self) -> None:
        super().__init__()
        if not self.p.gamma_fast < self.p.gamma_slow:
            raise ValueError(
                f"gamma_fast ({self.p.gamma_fast}) must be below gamma_slow ({self.p.gamma_slow})"
            )
        self.fast = LaguerreFilter(self.data, gamma=self.p.gamma_fast, seed=self.p.seed)
        self.slow = LaguerreFilter(self.data, gamma=self.p.gamma_slow, seed=self.p.seed)

    def target(self) -> int:
        return compare(self.fast[0], self.slow[0]) or self._side()

    @classmethod
    def vector_signals(cls, bars, params: dict):
        """``target()`` as arrays for :mod:`btedge.vector` (same kernels as the filters' ``once()``)."""
        from btedge.vector.signals import KEEP, Signals, compare_array

        if not params["gamma_fast"] < params["gamma_slow"]:
            raise ValueError(f"gamma_fast ({params['gamma_fast']}) must be below gamma_slow ({params['gamma_slow']})")
        fast = bars.laguerre(params["gamma_fast"], params["seed"])
        slow = bars.laguerre(params["gamma_slow"], params["seed"])
        side = compare_array(fast, slow)
        side[side == 0] = KEEP
        return Signals(side, first=0)


@register("laguerre_trend")
class LaguerreTrend(BaseStrategy):
    """
    Long while the close is above the Laguerre filter, short (or flat) while below.

    Params (plus :class:`BaseStrategy`'s):
      - ``gamma`` (default: ``0.8``): filter gamma
      - ``band`` (default: ``0.0``): hysteresis as a fraction of the filter; inside the band
        the current side is kept
      - ``seed`` (default: ``True``)
    """

    params = (("gamma", 0.8), ("band", 0.0), ("seed", True))

    def __init__(self) -> None:
        super().__init__()
        if not 0.0 <= self.p.band < 0.5:
            raise ValueError(f"band must be in [0, 0.5), got {self.p.band!r}")
        self.filter = LaguerreFilter(self.data, gamma=self.p.gamma, seed=self.p.seed)

    def target(self) -> int:
        close, level = self.data.close[0], self.filter[0]
        if compare(close, level * (1.0 + self.p.band)) > 0:
            return LONG
        if compare(close, level * (1.0 - self.p.band)) < 0:
            return SHORT
        return self._side()

    @classmethod
    def vector_signals(cls, bars, params: dict):
        """``target()`` as arrays for :mod:`btedge.vector`."""
        from btedge.vector.signals import KEEP, Signals, compare_array

        if not 0.0 <= params["band"] < 0.5:
            raise ValueError(f"band must be in [0, 0.5), got {params['band']!r}")
        close = bars.close
        level = bars.laguerre(params["gamma"], params["seed"])
        side = np.full(len(close), KEEP, dtype=np.int8)
        side[compare_array(close, level * (1.0 - params["band"])) < 0] = SHORT
        side[compare_array(close, level * (1.0 + params["band"])) > 0] = LONG
        return Signals(side, first=0)


@register("laguerre_channel")
class LaguerreChannelBreakout(BaseStrategy):
    """
    Enter on a close outside the Laguerre channel, exit when the close crosses back over the
    middle line.

    Params (plus :class:`BaseStrategy`'s):
      - ``gamma`` (default: ``0.5``), ``period`` (default: ``20``), ``devfactor`` (default:
        ``2.0``), ``seed`` (default: ``True``): as :class:`~btedge.indicators.LaguerreChannel`
    """

    params = (("gamma", 0.5), ("period", 20), ("devfactor", 2.0), ("seed", True))

    def __init__(self) -> None:
        super().__init__()
        self.channel = LaguerreChannel(
            self.data, gamma=self.p.gamma, period=self.p.period, devfactor=self.p.devfactor, seed=self.p.seed
        )

    def target(self) -> int:
        close, side = self.data.close[0], self._side()
        if close > self.channel.top[0]:
            return LONG
        if close < self.channel.bot[0]:
            return SHORT
        if side == LONG and close < self.channel.mid[0]:
            return FLAT
        if side == SHORT and close > self.channel.mid[0]:
            return FLAT
        return side

    @classmethod
    def vector_signals(cls, bars, params: dict):
        """``target()`` as arrays for :mod:`btedge.vector` (the channel as its ``once()`` computes it)."""
        from btedge.vector.signals import KEEP, Signals, rolling_std_once

        period = int(params["period"])
        if period < 2 or params["devfactor"] < 0:
            raise ValueError(f"period must be >= 2 and devfactor >= 0, got {params['period']!r}, {params['devfactor']!r}")
        close = bars.close
        mid = bars.laguerre(params["gamma"], params["seed"])
        dev = params["devfactor"] * rolling_std_once(mid, period)
        top, bot = mid + dev, mid - dev
        side = np.full(len(close), KEEP, dtype=np.int8)
        with np.errstate(invalid="ignore"):
            side[close < bot] = SHORT
            side[close > top] = LONG
            return Signals(side, first=period - 1, exit_long=close < mid, exit_short=close > mid)
