"""Return, risk and drawdown figures of a run, computed the way quantstats computes them.

:class:`Performance` records the portfolio value of every bar into an array (O(1) per bar) and
computes everything at ``stop()`` with :mod:`btedge.metrics`: period returns exactly as
``bt.analyzers.TimeReturn`` computes them, then :func:`~btedge.metrics.performance_stats`
(quantstats' conventions, listed in :mod:`btedge.metrics.performance`).
"""
from __future__ import annotations

import logging
import math
import numbers
from array import array

import backtrader as bt
import numpy as np
import pandas as pd

from btedge.feeds.timestamps import infer_spacing
from btedge.metrics import performance_stats, period_returns

log = logging.getLogger(__name__)

_TIMEFRAMES = (bt.TimeFrame.MicroSeconds, bt.TimeFrame.Seconds, bt.TimeFrame.Minutes, bt.TimeFrame.Days,
               bt.TimeFrame.Weeks, bt.TimeFrame.Months, bt.TimeFrame.Years, bt.TimeFrame.NoTimeFrame)
_NS_PER_DAY = 86_400 * 10**9
_UNIX_ORDINAL = 719_163  # datetime(1970, 1, 1).toordinal()


_CHUNK = 1 << 16  # bars converted at a time: the temporaries stay small at any length


def _num_to_ns(nums: np.ndarray) -> np.ndarray:
    days = np.floor(nums)
    hour, rem = np.divmod(24.0 * (nums - days), 1.0)
    minute, rem = np.divmod(60.0 * rem, 1.0)
    second, rem = np.divmod(60.0 * rem, 1.0)
    micro = (1e6 * rem).astype(np.int64)
    micro[micro < 10] = 0
    micro = np.where(micro > 999_990, 1_000_000, micro)
    seconds = (hour * 3600.0 + minute * 60.0 + second).astype(np.int64)
    return (days.astype(np.int64) - _UNIX_ORDINAL) * _NS_PER_DAY + seconds * 10**9 + micro * 1000


def num_to_datetime(nums: np.ndarray) -> pd.DatetimeIndex:
    """backtrader's float day numbers to naive timestamps, vectorised, with the same arithmetic
    (and rounding compensation) as ``backtrader.num2date``, so the stamps are identical."""
    nums = np.asarray(nums, dtype=float)
    ns = np.empty(len(nums), dtype=np.int64)
    for start in range(0, len(nums), _CHUNK):
        ns[start:start + _CHUNK] = _num_to_ns(nums[start:start + _CHUNK])
    return pd.DatetimeIndex(ns.view("datetime64[ns]"), name="datetime")


def period_keys(stamps: pd.DatetimeIndex, timeframe: int, compression: int) -> np.ndarray:
    """A key per timestamp that grows exactly when backtrader's ``TimeFrameAnalyzerBase`` starts a
    new period (its ``_get_dt_cmpkey``): by year, month, ISO week, day, or sub-day bucket of
    ``compression`` units counted from midnight."""
    if timeframe == bt.TimeFrame.NoTimeFrame:
        return np.zeros(len(stamps), dtype=np.int64)
    if timeframe == bt.TimeFrame.Years:
        return stamps.year.to_numpy(np.int64)
    if timeframe == bt.TimeFrame.Months:
        return stamps.year.to_numpy(np.int64) * 100 + stamps.month.to_numpy(np.int64)
    if timeframe == bt.TimeFrame.Weeks:
        iso = stamps.isocalendar()
        return iso["year"].to_numpy(np.int64) * 100 + iso["week"].to_numpy(np.int64)
    ns = stamps.as_unit("ns").asi8
    days, in_day = np.divmod(ns, _NS_PER_DAY)
    if timeframe == bt.TimeFrame.Days:
        return days
    unit = {bt.TimeFrame.Minutes: 60 * 10**9, bt.TimeFrame.Seconds: 10**9}.get(timeframe, 1000)
    return days * 10**12 + (in_day // unit) // compression


class Performance(bt.Analyzer):
    """
    Return, risk and drawdown figures of the portfolio, equal to quantstats' on the same
    returns (conventions in :mod:`btedge.metrics.performance`).

    Returns are those of ``bt.analyzers.TimeReturn`` with this analyzer's ``timeframe``,
    ``compression`` and ``fund`` (the same numbers), computed at ``stop()`` from the value of
    every bar: with the defaults one return per bar of the first data, *provided the feed's
    timeframe is its bar size* (``FrameData`` infers it when none is given; btedge's engine
    declares it): a feed declared ``Days`` (backtrader's own feeds default to it) gives daily
    returns, and a warning is logged when such a feed has several bars a day.

    Formula (``r`` period returns, ``n`` of them, ``P`` periods per year, ``e = r - rf_p`` with
    ``rf_p = (1 + riskfree) ** (1 / P) - 1``):
      - total_return = prod(1 + r) - 1; cagr = (1 + total_return) ** (P / n) - 1
      - volatility = std(r, ddof=1) * sqrt(P); sharpe = mean(e) / std(r, ddof=1) * sqrt(P)
      - sortino = mean(e) / sqrt(sum(e[e < 0] ** 2) / n) * sqrt(P)
      - equity = cumprod(1 + r) from 1; max_drawdown = max(1 - equity / running peak)
      - calmar = cagr / max_drawdown

    See:
      - quantstats 0.0.86 ``stats.py`` (sharpe, sortino, volatility, cagr, max_drawdown, calmar)
      - backtrader ``analyzers/timereturn.py``, ``analyzer.py`` (``_get_dt_cmpkey``),
        ``analyzers/drawdown.py``

    Params:
      - ``timeframe`` (default: ``None``): return period; ``None`` = the first data's
      - ``compression`` (default: ``None``): for sub-day timeframes; ``None`` = the first data's
      - ``periods_per_year`` (default: ``None``): return periods per year used for annualising;
        ``None`` infers it from the return timestamps by trading sessions
        (:func:`btedge.feeds.timestamps.infer_spacing`: e.g. 252 for daily stocks, 365 for daily
        crypto, 525,600 for 1-minute crypto, about 178,000 for US equities with extended hours)
      - ``riskfree`` (default: ``0.0``): annual risk-free rate in [0, 1), for Sharpe and Sortino
      - ``fund`` (default: ``None``): fund mode as ``TimeReturn``'s (``None`` = the broker's)

    Attributes (after the run):
      - ``returns``: ``pd.Series`` of period returns, indexed by the timestamp of the last bar
        of each period (the bar's own timestamp when periods are bars)

    Methods:
      - ``get_analysis`` returns a dict of scalars:
        - ``total_return``: compounded return over the run (0.25 = +25%)
        - ``cagr``: compound annual growth rate, years counted as periods / periods_per_year
        - ``volatility``: annualised standard deviation of the returns
        - ``sharpe``, ``sortino``: annualised ratios on excess returns
        - ``max_drawdown``: largest fall from a peak, as a positive fraction
        - ``max_drawdown_duration``: longest run of periods below the peak (as backtrader's
          ``DrawDown`` ``max.len`` when returns are per bar)
        - ``max_drawdown_timedelta``: time from the peak of that run to its recovery (or to the
          last period when it has not recovered), a ``pd.Timedelta``
        - ``calmar``: cagr / max_drawdown
        - ``exposure``: fraction of bars with an open position at the bar's close
        - ``bars``: bars seen; ``periods``: return periods
        - ``first_bar``, ``last_bar``: timestamps of the first and last bar (``None`` if none)
        - ``timeframe``: the return period as text (``'1 min'``, ``'1 day'``), ``None`` if unknown
        - ``periods_per_year``: the figure used (inferred or given)
        - ``riskfree``: the annual rate used

      Undefined figures (zero deviation, no drawdown, fewer than two returns) are NaN.
    """

    params = (
        ("timeframe", None),
        ("compression", None),
        ("periods_per_year", None),
        ("riskfree", 0.0),
        ("fund", None),
    )

    def __init__(self) -> None:
        self._validate_params()
        self.returns = pd.Series(dtype=float, name="returns")

    def _validate_params(self) -> None:
        ppy = self.p.periods_per_year
        if ppy is not None and not (isinstance(ppy, numbers.Real) and ppy > 0 and math.isfinite(ppy)):
            raise ValueError(f"periods_per_year must be None (infer) or a number > 0, got {ppy!r}")
        rf = self.p.riskfree
        if not (isinstance(rf, numbers.Real) and 0.0 <= rf < 1.0):
            raise ValueError(f"riskfree must be an annual rate in [0, 1), got {rf!r}")
        if self.p.timeframe is not None and self.p.timeframe not in _TIMEFRAMES:
            names = ", ".join(bt.TimeFrame.Names[tf] for tf in _TIMEFRAMES)
            raise ValueError(f"timeframe must be None or a bt.TimeFrame ({names}), got {self.p.timeframe!r}")
        if self.p.compression is not None and not (isinstance(self.p.compression, int) and self.p.compression >= 1):
            raise ValueError(f"compression must be None or an int >= 1, got {self.p.compression!r}")

    def start(self) -> None:
        broker = self.strategy.broker
        self._fundmode = broker.fundmode if self.p.fund is None else self.p.fund
        self._start_value = broker.fundvalue if self._fundmode else broker.getvalue()
        self._value = self._start_value
        self._values = array("d")
        self._stamps = array("d")
        self._in_market = array("b")
        self._holding = False
        self._clock = self.strategy.lines.datetime

    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Completed, order.Partial):  # positions change only on fills
            strategy = self.strategy
            self._holding = any(strategy.getposition(data).size for data in strategy.datas)

    # -- once a bar: backtrader's hooks themselves (its base ``_next`` / ``_notify_fund`` loop over
    # child analyzers, none here, then call ``next`` / ``notify_fund``): one call each, no more
    def _notify_fund(self, cash: float, value: float, fundvalue: float, shares: float) -> None:
        self._value = fundvalue if self._fundmode else value

    def _notify_cashvalue(self, cash: float, value: float) -> None:
        pass

    def _next(self) -> None:  # every bar, before the strategy's minimum period too
        self._values.append(self._value)
        self._stamps.append(self._clock[0])
        self._in_market.append(self._holding)

    _prenext = _nextstart = _next

    # -- at the end ------------------------------------------------------------------------
    def _bar_stamps(self) -> pd.DatetimeIndex:
        tz = getattr(self.data, "_tz", None)
        if tz is None:
            return num_to_datetime(np.asarray(self._stamps))
        return pd.DatetimeIndex([bt.num2date(x, tz=tz) for x in self._stamps], name="datetime")

    def _compute_returns(self, stamps: pd.DatetimeIndex) -> pd.Series:
        timeframe = self.p.timeframe or self.data._timeframe
        compression = self.p.compression or self.data._compression
        keys = period_keys(stamps, timeframe, compression)
        ends = np.append(np.flatnonzero(np.diff(keys) > 0), len(keys) - 1) if len(keys) else np.array([], int)
        values = np.asarray(self._values)
        rets = period_returns(values, self._start_value, ends) if len(ends) else np.array([])
        return pd.Series(rets, index=stamps[ends] if len(ends) else stamps, dtype=float, name="returns")

    def _warn_if_feed_undeclared(self, periods: int) -> None:
        bars = len(self._values)
        if self.p.timeframe is None and self.data._timeframe == bt.TimeFrame.Days and bars > periods:
            log.warning(
                "Performance: the feed is declared daily (backtrader's default) but has %d bars for "
                "%d days, so returns are daily; declare the bar size on the feed, e.g. "
                "timeframe=bt.TimeFrame.Minutes, compression=1, or set Performance's timeframe",
                bars, periods,
            )

    def _spacing(self, returns: pd.Series) -> tuple[float, str | None]:
        spacing = infer_spacing(returns.index) if returns.index.nunique() >= 3 else None
        if self.p.periods_per_year is not None:
            return float(self.p.periods_per_year), spacing.timeframe_name if spacing else None
        if spacing is None:
            log.warning("Performance: fewer than 3 return periods, periods_per_year unknown (NaN)")
            return math.nan, None
        return spacing.periods_per_year, spacing.timeframe_name

    def stop(self) -> None:
        stamps = self._bar_stamps()
        self.returns = returns = self._compute_returns(stamps)
        self._warn_if_feed_undeclared(len(returns))
        ppy, timeframe = self._spacing(returns)
        stats = performance_stats(returns, ppy if math.isfinite(ppy) else 1.0, self.p.riskfree)
        if not math.isfinite(ppy):
            stats.update(cagr=math.nan, volatility=math.nan, sharpe=math.nan, sortino=math.nan, calmar=math.nan)
        bars = len(self._values)
        self.rets.update(stats)
        self.rets.update(
            exposure=float(np.mean(np.asarray(self._in_market, dtype=bool))) if bars else math.nan,
            bars=bars,
            first_bar=stamps[0] if bars else None,
            last_bar=stamps[-1] if bars else None,
            timeframe=timeframe,
            periods_per_year=ppy,
            riskfree=float(self.p.riskfree),
        )
