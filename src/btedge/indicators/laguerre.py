"""Ehlers' Laguerre family: filter, RSI, adaptive filter and a Laguerre channel.

The fixed-gamma filter and RSI are linear IIR cascades: ``once()`` runs them over the whole
preloaded array with ``scipy.signal.lfilter`` and ``next()`` advances the same state one bar at a
time (live). Both carry one :class:`~btedge.kernels.LaguerreState`, so they agree to
rounding (1e-9 is tested) and can hand over to each other.
"""
from __future__ import annotations

import math

import backtrader as bt
import numpy as np

from btedge import kernels as k

__all__ = ["LaguerreFilter", "LaguerreRSI", "AdaptiveLaguerreFilter", "LaguerreChannel", "RollingStd"]


class _LaguerreCascade(bt.Indicator):
    """Runs the four-stage cascade from bar ``_first`` and writes lines from the min period.

    Subclasses set ``_first`` in ``__init__`` and implement ``_values(stages)`` (vectorised, one
    array per line) and ``_value(state)`` (one bar, one float per line).
    """

    _first: int = 0

    def _setup_cascade(self) -> None:
        self._gamma = k.check_gamma(self.p.gamma)
        self._state: k.LaguerreState | None = None
        self._next_bar = 0  # absolute index of the next bar to feed the cascade (once mode)

    # -- one bar (next mode, live) -----------------------------------------------------------
    def _advance(self) -> None:
        x = self.data[0]
        if self._state is None:
            self._state = k.laguerre_init(x, self.p.seed)
        self._state = k.laguerre_step(self._state, x, self._gamma)

    def prenext(self) -> None:
        if len(self) > self._first:
            self._advance()

    def next(self) -> None:
        self._advance()
        for line, value in zip(self.lines, self._value(self._state)):
            line[0] = value

    # -- whole arrays (runonce backtests) ------------------------------------------------------
    def once(self, start: int, end: int) -> None:
        begin = max(self._next_bar, self._first)
        if begin >= end:
            return
        x = k.from_line_array(self.data.array, begin, end)
        if self._state is None:
            self._state = k.laguerre_init(x[0], self.p.seed)
        stages, self._state = k.laguerre_stages(x, self._gamma, self._state)
        self._next_bar = end
        lo = max(begin, self._minperiod - 1)
        for line, values in zip(self.lines, self._values(stages)):
            line.array[lo:end] = k.as_line_array(values[lo - begin:])

    def _values(self, stages: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def _value(self, state: k.LaguerreState) -> tuple[float, ...]:
        raise NotImplementedError


class LaguerreFilter(_LaguerreCascade):
    """
    Ehlers' four-element Laguerre filter: a low-lag smoother whose lag is set by ``gamma``.

    Formula:
      - L0 = (1 - gamma) * data + gamma * L0(-1)
      - L1 = -gamma * L0 + L0(-1) + gamma * L1(-1)
      - L2 = -gamma * L1 + L1(-1) + gamma * L2(-1)
      - L3 = -gamma * L2 + L2(-1) + gamma * L3(-1)
      - lfilter = (L0 + 2 * L1 + 2 * L2 + L3) / 6

    It is a linear IIR filter with four poles at ``gamma``; the centroid lag is
    gamma/(1-gamma) + 1.5 (1+gamma)/(1-gamma) bars (5.5 at 0.5, 17.5 at 0.8).

    Params:
      - ``gamma`` (default: ``0.5``): damping in [0, 1); higher is smoother and slower.
        ``gamma=0`` is the FIR (data + 2 data(-1) + 2 data(-2) + data(-3)) / 6
      - ``seed`` (default: ``True``): start every stage at the first value (the filter's DC
        steady state), so there is no start-up transient. ``False`` starts from zero and
        reproduces ``bt.ind.LaguerreFilter`` exactly

    See:
      - Ehlers, *Time Warp - Without Space Travel*, 2002
      - Ehlers, *Cybernetic Analysis for Stocks and Futures*, Wiley, 2004, ch. 14
    """

    alias = ("LagF", "LaguerreFilterSeeded")
    lines = ("lfilter",)
    params = (("gamma", 0.5), ("seed", True))
    plotinfo = dict(subplot=False)

    def _plotlabel(self) -> list:
        return [self.p.gamma]

    def __init__(self) -> None:
        self._setup_cascade()
        self._first = self._minperiod - 1

    def _values(self, stages: np.ndarray) -> tuple[np.ndarray, ...]:
        return (k.laguerre_filter_array(stages),)

    def _value(self, state: k.LaguerreState) -> tuple[float, ...]:
        return (k.laguerre_filter_value(state),)


class LaguerreRSI(_LaguerreCascade):
    """
    Ehlers' Laguerre RSI: the up and down moves between the four Laguerre stages.

    Formula:
      - L0..L3 as in :class:`LaguerreFilter`
      - CU = sum of (Lk - Lk+1) where Lk >= Lk+1; CD = sum of (Lk+1 - Lk) where Lk < Lk+1
      - lrsi = CU / (CU + CD); ``flat`` when CU + CD = 0

    Params:
      - ``gamma`` (default: ``0.5``): damping in [0, 1)
      - ``period`` (default: ``6``): bars of warm-up before the first value (as backtrader)
      - ``seed`` (default: ``True``): run the cascade from the first valid input, started at that
        value, and emit from ``period`` bars on. ``False`` starts a zero state at the first
        emitted bar and reproduces ``bt.ind.LaguerreRSI`` exactly
      - ``flat`` (default: ``1.0``): value when CU + CD = 0 (backtrader returns 1.0, jesse 0.0)

    See:
      - Ehlers, *Cybernetic Analysis for Stocks and Futures*, Wiley, 2004, ch. 14
    """

    alias = ("LRSISeeded",)
    lines = ("lrsi",)
    params = (("gamma", 0.5), ("period", 6), ("seed", True), ("flat", 1.0))
    plotinfo = dict(plotymargin=0.15, plotyticks=[0.0, 0.2, 0.5, 0.8, 1.0])

    def _plotlabel(self) -> list:
        return [self.p.gamma]

    def __init__(self) -> None:
        if int(self.p.period) < 1:
            raise ValueError(f"period must be >= 1, got {self.p.period!r}")
        self._setup_cascade()
        data_first = self._minperiod - 1  # own min period is only final after __init__
        self.addminperiod(int(self.p.period))
        self._first = data_first if self.p.seed else data_first + int(self.p.period) - 1

    def _values(self, stages: np.ndarray) -> tuple[np.ndarray, ...]:
        return (k.laguerre_rsi_array(stages, self.p.flat),)

    def _value(self, state: k.LaguerreState) -> tuple[float, ...]:
        return (k.laguerre_rsi_value(state, self.p.flat),)


class AdaptiveLaguerreFilter(bt.Indicator):
    """
    Laguerre filter whose gamma adapts bar by bar.

    ``mode='error'`` is Ehlers' adaptive filter: the faster the recent tracking error relative
    to its own range, the smaller gamma. ``mode='atr'`` scales gamma by volatility instead.

    Formula (mode='error'):
      - diff = abs(data - lfilter(-1))
      - ratio = (diff - Lowest(diff, length)) / (Highest(diff, length) - Lowest(diff, length))
      - alpha = Median(ratio, median); gamma = 1 - alpha
      - while the range is 0 (flat data) alpha keeps its last value: no division by zero
      - the cascade is :class:`LaguerreFilter`'s with this gamma, started at the first value

    Formula (mode='atr'):
      - gamma = 1 - clip(ATR(length) / close * atr_scale, 0, 1)

    Params:
      - ``mode`` (default: ``'error'``): ``'error'`` (Ehlers) or ``'atr'`` (needs a data feed
        with high, low and close)
      - ``length`` (default: ``20``): bars of tracking error (or ATR period)
      - ``median`` (default: ``5``): bars in the median of the normalised error
      - ``alpha0`` (default: ``0.5``): alpha used until ``length`` errors exist
      - ``atr_scale`` (default: ``25.0``): ATR/close multiplier in ``'atr'`` mode

    Lines: ``lfilter`` and the ``gamma`` used on each bar.

    Ehlers applies it to the median price: pass ``(data.high + data.low) / 2`` as the data.

    See:
      - Ehlers, *Cybernetic Analysis for Stocks and Futures*, Wiley, 2004, ch. 14
      - ML_RIGOR.md 2.1 and 2.3 (median of the last 5 ratios, flat-range handling)
    """

    alias = ("AdaptiveLagF",)
    lines = ("lfilter", "gamma")
    params = (("mode", "error"), ("length", 20), ("median", 5), ("alpha0", 0.5), ("atr_scale", 25.0))
    plotinfo = dict(subplot=False)
    plotlines = dict(gamma=dict(_plotskip=True))

    def _plotlabel(self) -> list:
        return [self.p.mode, self.p.length]

    def __init__(self) -> None:
        p = self.p
        if p.mode not in ("error", "atr"):
            raise ValueError(f"mode must be 'error' or 'atr', got {p.mode!r}")
        if int(p.length) < 2 or int(p.median) < 1:
            raise ValueError(f"length must be >= 2 and median >= 1, got {p.length!r}, {p.median!r}")
        if not 0.0 <= p.alpha0 <= 1.0:
            raise ValueError(f"alpha0 must be in [0, 1], got {p.alpha0!r}")
        if p.atr_scale < 0:
            raise ValueError(f"atr_scale must be >= 0, got {p.atr_scale!r}")
        self._atr = None
        if p.mode == "atr":
            if not all(hasattr(self.data, name) for name in ("high", "low", "close")):
                raise ValueError("mode='atr' needs a data feed with high, low and close lines")
            self._atr = bt.ind.ATR(self.data, period=int(p.length), plot=False)
            self._close = self.data.close
        self._state = None
        self._next_bar = 0

    def _step(self, x: float, atr: float, close: float) -> tuple[float, float]:
        if self._atr is None:
            if self._state is None:
                self._state = k.adaptive_init(x, self.p.alpha0)
            self._state = k.adaptive_step(self._state, x, int(self.p.length), int(self.p.median))
            return self._state.filt, 1.0 - self._state.alpha
        gamma = 1.0 - min(max(atr / close * self.p.atr_scale, 0.0), 1.0) if close > 0 else math.nan
        if self._state is None:
            self._state = (k.laguerre_init(x, True), gamma)
        stages, last_gamma = self._state
        gamma = last_gamma if math.isnan(gamma) else gamma
        stages, filt = k.adaptive_gamma_step(stages, x, gamma)
        self._state = (stages, gamma)
        return filt, gamma

    def next(self) -> None:
        atr = self._atr[0] if self._atr is not None else 0.0
        close = self._close[0] if self._atr is not None else 1.0
        self.lines.lfilter[0], self.lines.gamma[0] = self._step(self.data[0], atr, close)

    def once(self, start: int, end: int) -> None:
        begin = max(self._next_bar, self._minperiod - 1)
        x = self.data.array
        atr = self._atr.array if self._atr is not None else None
        close = self._close.array if self._atr is not None else None
        filt, gamma = self.lines.lfilter.array, self.lines.gamma.array
        for i in range(begin, end):
            a, c = (atr[i], close[i]) if atr is not None else (0.0, 1.0)
            filt[i], gamma[i] = self._step(x[i], a, c)
        self._next_bar = max(end, begin)


class RollingStd(bt.Indicator):
    """
    Population standard deviation over ``period`` bars, computed two-pass on each window.

    ``bt.ind.StdDev`` uses sqrt(mean(x^2) - mean(x)^2), which cancels catastrophically on
    price levels with small variance (its once and next paths then differ by ~1e-9 on index
    levels near 3600). This one subtracts the window mean first, in both paths.

    Formula:
      - std = sqrt(mean((x - mean(x, period))^2, period))

    Params:
      - ``period`` (default: ``20``): bars in the window
    """

    lines = ("std",)
    params = (("period", 20),)

    def __init__(self) -> None:
        if int(self.p.period) < 2:
            raise ValueError(f"period must be >= 2, got {self.p.period!r}")
        self.addminperiod(int(self.p.period))

    def next(self) -> None:
        self.lines.std[0] = float(np.std(np.asarray(self.data.get(size=int(self.p.period)))))

    def once(self, start: int, end: int) -> None:
        n = int(self.p.period)
        x = k.from_line_array(self.data.array, start - n + 1, end)
        windows = np.lib.stride_tricks.sliding_window_view(x, n)
        self.lines.std.array[start:end] = k.as_line_array(np.std(windows, axis=-1))


class LaguerreChannel(bt.Indicator):
    """
    A Bollinger-style band around the Laguerre filter.

    Formula:
      - mid = LaguerreFilter(data, gamma, seed)
      - top = mid + devfactor * RollingStd(mid, period)
      - bot = mid - devfactor * RollingStd(mid, period)

    Params:
      - ``gamma`` (default: ``0.5``), ``seed`` (default: ``True``): as :class:`LaguerreFilter`
      - ``period`` (default: ``20``): bars of the rolling standard deviation
      - ``devfactor`` (default: ``2.0``): band width in standard deviations

    See:
      - Ehlers, *Cybernetic Analysis for Stocks and Futures*, Wiley, 2004, ch. 14
      - Bollinger, *Bollinger on Bollinger Bands*, McGraw-Hill, 2001
    """

    alias = ("LagChannel",)
    lines = ("mid", "top", "bot")
    params = (("gamma", 0.5), ("seed", True), ("period", 20), ("devfactor", 2.0))
    plotinfo = dict(subplot=False)

    def _plotlabel(self) -> list:
        return [self.p.gamma, self.p.period, self.p.devfactor]
    plotlines = dict(mid=dict(ls="--"), top=dict(_samecolor=True), bot=dict(_samecolor=True))

    def __init__(self) -> None:
        if int(self.p.period) < 2:
            raise ValueError(f"period must be >= 2, got {self.p.period!r}")
        if self.p.devfactor < 0:
            raise ValueError(f"devfactor must be >= 0, got {self.p.devfactor!r}")
        mid = LaguerreFilter(self.data, gamma=self.p.gamma, seed=self.p.seed)
        dev = self.p.devfactor * RollingStd(mid, period=int(self.p.period))
        self.lines.mid = mid
        self.lines.top = mid + dev
        self.lines.bot = mid - dev
