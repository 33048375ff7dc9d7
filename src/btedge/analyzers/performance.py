"""Return, risk and drawdown figures of a run, computed the way quantstats computes them.

:class:`Performance` owns a ``bt.analyzers.TimeReturn`` child (as ``bt.analyzers.SharpeRatio``
does) and turns its period returns into the usual figures with :func:`performance_stats`, a
pure function on a return series that :mod:`btedge.report` also uses for buy-and-hold.

Conventions, matching ``quantstats.stats`` 0.0.86 (see its ``stats.py``):

- volatility: sample standard deviation (``ddof=1``) times ``sqrt(periods_per_year)``
- Sharpe: mean excess return over the sample standard deviation, times
  ``sqrt(periods_per_year)``; the annual risk-free rate is turned into a per-period rate as
  ``(1 + riskfree) ** (1 / periods_per_year) - 1``
- Sortino: mean excess return over the downside deviation ``sqrt(sum(r[r < 0] ** 2) / n)``
  (all ``n`` periods in the denominator), times ``sqrt(periods_per_year)``
- CAGR: ``(1 + total_return) ** (1 / years) - 1`` with ``years = n / periods_per_year``, i.e.
  quantstats counts years in *periods*, not calendar time; the risk-free rate is not subtracted
- max drawdown: from the compounded equity curve, with a starting equity of 1 before the first
  return, so a loss on the first period counts. btedge reports it as a **positive fraction**
  (0.12 is a 12% drawdown); quantstats returns it negative (-0.12) and backtrader's
  ``DrawDown`` in percent (12.0)
- Calmar: CAGR over max drawdown
"""
from __future__ import annotations

import logging
import math
import numbers
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: Relative tolerance below the running peak before a period counts as "in drawdown"
#: (compounding returns adds rounding noise of a few ulps to an equity that is really flat).
_UNDERWATER_RTOL = 1e-12

#: Minimum bar spacing (as a fraction of a day) above which bars are treated as daily.
_DAILY_SPACING = pd.Timedelta(hours=20)

#: (minimum median spacing, periods per year) for bars of a week or longer.
_LONG_BARS = (
    (pd.Timedelta(days=300), 1.0),
    (pd.Timedelta(days=80), 4.0),
    (pd.Timedelta(days=25), 12.0),
    (pd.Timedelta(days=5), 52.0),
)

TRADING_DAYS = 252.0  # markets closed at weekends (stocks, futures, FX)
CALENDAR_DAYS = 365.0  # markets open every day (crypto)


# -- periods per year ------------------------------------------------------------------------
def _clean_index(index: Any) -> pd.DatetimeIndex:
    try:
        idx = pd.DatetimeIndex(index)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"infer_periods_per_year needs timestamps, got {type(index).__name__} ({exc}); "
            "pass a DatetimeIndex or set periods_per_year explicitly"
        ) from None
    return idx.dropna().unique().sort_values()


def trades_weekends(index: pd.DatetimeIndex) -> bool:
    """True when at least half of the Saturdays in the span of ``index`` have a bar (crypto)."""
    dates = index.normalize().unique()
    saturdays = pd.date_range(dates[0], dates[-1], freq="W-SAT")
    if len(saturdays) == 0:
        return False  # no weekend inside the data: assume a weekday market
    present = int((dates.day_of_week == 5).sum())
    return present >= 0.5 * len(saturdays)


def _bars_per_day(index: pd.DatetimeIndex, spacing: pd.Timedelta) -> float:
    """Typical session length in bars: median over dates of (last - first) / spacing + 1."""
    stamps = pd.Series(index, index=index)
    by_day = stamps.groupby(index.normalize())
    spans = (by_day.max() - by_day.min()) / spacing + 1.0
    return float(round(spans.median()))


def infer_periods_per_year(index: Any) -> float:
    """
    Periods per year of a return series, from its timestamps.

    The median spacing of the timestamps gives the bar size. Bars of a week or longer give
    52 / 12 / 4 / 1. Daily bars give 365 when the market trades at weekends (at least half of
    the Saturdays in the span have a bar) and 252 otherwise. Intraday bars give
    ``bars_per_day * days_per_year`` with the same day count and ``bars_per_day`` the median,
    over dates, of ``(last bar - first bar) / spacing + 1``: the session length, which missing
    bars inside a session do not shorten. So 1-minute crypto gives 1440 * 365 = 525,600 and
    1-minute US equities in regular hours 390 * 252 = 98,280.

    Raises ``ValueError`` with fewer than three distinct timestamps.
    """
    idx = _clean_index(index)
    if len(idx) < 3:
        raise ValueError(
            f"infer_periods_per_year needs at least 3 distinct timestamps, got {len(idx)}; "
            "pass periods_per_year explicitly"
        )
    spacing = pd.Series(idx).diff().median()
    for min_spacing, periods in _LONG_BARS:
        if spacing >= min_spacing:
            return periods
    days = CALENDAR_DAYS if trades_weekends(idx) else TRADING_DAYS
    if spacing >= _DAILY_SPACING:
        return days
    return _bars_per_day(idx, spacing) * days


# -- statistics on a return series -----------------------------------------------------------
def _per_period_rate(riskfree: float, periods_per_year: float) -> float:
    return (1.0 + riskfree) ** (1.0 / periods_per_year) - 1.0


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0.0 and math.isfinite(denominator) else math.nan


def _cagr(total_return: float, count: int, periods_per_year: float) -> float:
    wealth = 1.0 + total_return
    if count == 0 or wealth < 0.0:
        return math.nan
    return wealth ** (periods_per_year / count) - 1.0


def drawdown_series(returns: pd.Series) -> pd.Series:
    """Drawdown of the compounded equity at each period, as a non-negative fraction of the peak.

    The equity starts at 1 before the first return (as quantstats does), so a first-period
    loss is a drawdown. NaN returns count as flat periods.
    """
    equity = np.cumprod(1.0 + returns.fillna(0.0).to_numpy(dtype=float))
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    return pd.Series(1.0 - equity / peak, index=returns.index)


def _longest_underwater(drawdown: pd.Series) -> tuple[int, pd.Timedelta]:
    """Longest run of periods below the peak: its length, and the time from the peak to
    the recovery (or to the last period when the run never recovers)."""
    under = drawdown.to_numpy() > _UNDERWATER_RTOL
    best_len, best_start = 0, 0
    run_start = None
    for i, flag in enumerate(np.append(under, False)):
        if flag and run_start is None:
            run_start = i
        elif not flag and run_start is not None:
            if i - run_start > best_len:
                best_len, best_start = i - run_start, run_start
            run_start = None
    if best_len == 0:
        return 0, pd.Timedelta(0)
    stamps = drawdown.index
    peak_at = stamps[max(best_start - 1, 0)]
    end_at = stamps[min(best_start + best_len, len(stamps) - 1)]
    return best_len, pd.Timedelta(end_at - peak_at)


def performance_stats(returns: pd.Series, periods_per_year: float, riskfree: float = 0.0) -> dict[str, Any]:
    """
    Return and risk figures of a period-return series, with quantstats' conventions
    (module docstring). NaN returns are skipped, as quantstats skips them.

    Args:
      returns: simple returns per period, indexed by timestamp
      periods_per_year: periods in a year, for annualising
      riskfree: annual risk-free rate, used by ``sharpe`` and ``sortino``

    Returns:
      dict with ``total_return``, ``cagr``, ``volatility``, ``sharpe``, ``sortino``,
      ``max_drawdown`` (positive fraction), ``max_drawdown_duration`` (periods),
      ``max_drawdown_timedelta``, ``calmar`` and ``periods``; a figure that is undefined
      (zero deviation, zero drawdown, fewer than two returns) is NaN.
    """
    if not periods_per_year > 0.0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    clean = returns.dropna()
    values = clean.to_numpy(dtype=float)
    count = len(values)
    total = float(np.prod(1.0 + values) - 1.0) if count else 0.0
    excess = values - _per_period_rate(riskfree, periods_per_year)
    root = math.sqrt(periods_per_year)
    std = float(np.std(values, ddof=1)) if count > 1 else math.nan
    downside = math.sqrt(float(np.sum(excess[excess < 0.0] ** 2)) / count) if count else math.nan
    mean_excess = float(np.mean(excess)) if count else math.nan
    drawdown = drawdown_series(clean)
    max_dd = float(drawdown.max()) if count else 0.0
    duration, timedelta = _longest_underwater(drawdown)
    cagr = _cagr(total, count, periods_per_year)
    return {
        "total_return": total,
        "cagr": cagr,
        "volatility": std * root,
        "sharpe": _ratio(mean_excess, std) * root,
        "sortino": _ratio(mean_excess, downside) * root,
        "max_drawdown": max_dd,
        "max_drawdown_duration": duration,
        "max_drawdown_timedelta": timedelta,
        "calmar": _ratio(cagr, max_dd),
        "periods": count,
    }


# -- the analyzer ----------------------------------------------------------------------------
class Performance(bt.Analyzer):
    """
    Return, risk and drawdown figures of the portfolio, equal to quantstats' on the same
    returns (conventions in the module docstring).

    Returns come from a child ``bt.analyzers.TimeReturn`` with this analyzer's ``timeframe``,
    ``compression`` and ``fund``; with the defaults that is one return per bar of the first data,
    *provided the feed declares its timeframe* (``FrameData(..., timeframe=bt.TimeFrame.Minutes)``):
    a feed left at backtrader's default ``Days`` gives daily returns, and a warning is logged
    when such a feed has several bars a day.

    Formula (``r`` period returns, ``n`` of them, ``P`` periods per year, ``e = r - rf_p`` with
    ``rf_p = (1 + riskfree) ** (1 / P) - 1``):
      - total_return = prod(1 + r) - 1; cagr = (1 + total_return) ** (P / n) - 1
      - volatility = std(r, ddof=1) * sqrt(P); sharpe = mean(e) / std(r, ddof=1) * sqrt(P)
      - sortino = mean(e) / sqrt(sum(e[e < 0] ** 2) / n) * sqrt(P)
      - equity = cumprod(1 + r) from 1; max_drawdown = max(1 - equity / running peak)
      - calmar = cagr / max_drawdown

    See:
      - quantstats 0.0.86 ``stats.py`` (sharpe, sortino, volatility, cagr, max_drawdown, calmar)
      - backtrader ``analyzers/sharpe.py`` (the TimeReturn composition), ``analyzers/drawdown.py``

    Params:
      - ``timeframe`` (default: ``None``): return period; ``None`` = the first data's
      - ``compression`` (default: ``None``): for sub-day timeframes; ``None`` = the first data's
      - ``periods_per_year`` (default: ``None``): return periods per year used for annualising;
        ``None`` infers it from the return timestamps (:func:`infer_periods_per_year`:
        e.g. 252 for daily stocks, 365 for daily crypto, 525,600 for 1-minute crypto)
      - ``riskfree`` (default: ``0.0``): annual risk-free rate in [0, 1), for Sharpe and Sortino
      - ``fund`` (default: ``None``): passed to ``TimeReturn`` (``None`` = the broker's fund mode)

    Methods:
      - ``get_analysis`` returns a dict with keys:
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
        - ``periods_per_year``: the figure used (inferred or given)
        - ``riskfree``: the annual rate used
        - ``returns``: ``pd.Series`` of period returns, indexed by the timestamp of the last bar
          of each period (the bar's own timestamp when periods are bars)

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
        self._timereturn = bt.analyzers.TimeReturn(
            timeframe=self.p.timeframe, compression=self.p.compression, fund=self.p.fund
        )

    def _validate_params(self) -> None:
        ppy = self.p.periods_per_year
        if ppy is not None and not (isinstance(ppy, numbers.Real) and ppy > 0 and math.isfinite(ppy)):
            raise ValueError(f"periods_per_year must be None (infer) or a number > 0, got {ppy!r}")
        rf = self.p.riskfree
        if not (isinstance(rf, numbers.Real) and 0.0 <= rf < 1.0):
            raise ValueError(f"riskfree must be an annual rate in [0, 1), got {rf!r}")
        timeframes = (bt.TimeFrame.MicroSeconds, bt.TimeFrame.Seconds, bt.TimeFrame.Minutes, bt.TimeFrame.Days,
                      bt.TimeFrame.Weeks, bt.TimeFrame.Months, bt.TimeFrame.Years, bt.TimeFrame.NoTimeFrame)
        if self.p.timeframe is not None and self.p.timeframe not in timeframes:
            names = ", ".join(bt.TimeFrame.Names[tf] for tf in timeframes)
            raise ValueError(f"timeframe must be None or a bt.TimeFrame ({names}), got {self.p.timeframe!r}")
        if self.p.compression is not None and not (isinstance(self.p.compression, int) and self.p.compression >= 1):
            raise ValueError(f"compression must be None or an int >= 1, got {self.p.compression!r}")

    def start(self) -> None:
        self._bars = 0
        self._bars_in_market = 0
        self._period_end: dict[Any, Any] = {}  # TimeReturn key -> last bar timestamp

    def next(self) -> None:
        self._bars += 1
        if any(self.strategy.getposition(data).size for data in self.strategy.datas):
            self._bars_in_market += 1
        self._period_end[self._timereturn.dtkey] = self.strategy.datetime.datetime()

    def _returns(self) -> pd.Series:
        rets = self._timereturn.get_analysis()
        index = pd.DatetimeIndex([self._period_end.get(key, key) for key in rets], name="datetime")
        return pd.Series(list(rets.values()), index=index, dtype=float, name="returns")

    def _warn_if_feed_undeclared(self, periods: int) -> None:
        data = self.strategy.datas[0]
        if self.p.timeframe is None and data._timeframe == bt.TimeFrame.Days and self._bars > periods:
            log.warning(
                "Performance: the feed is declared daily (backtrader's default) but has %d bars for "
                "%d days, so returns are daily; declare the bar size on the feed, e.g. "
                "timeframe=bt.TimeFrame.Minutes, compression=1, or set Performance's timeframe",
                self._bars, periods,
            )

    def _periods_per_year(self, returns: pd.Series) -> float:
        if self.p.periods_per_year is not None:
            return float(self.p.periods_per_year)
        if returns.index.nunique() < 3:
            log.warning("Performance: fewer than 3 return periods, periods_per_year unknown (NaN)")
            return math.nan
        return infer_periods_per_year(returns.index)

    def stop(self) -> None:
        returns = self._returns()
        self._warn_if_feed_undeclared(len(returns))
        ppy = self._periods_per_year(returns)
        stats = performance_stats(returns, ppy if math.isfinite(ppy) else 1.0, self.p.riskfree)
        if not math.isfinite(ppy):
            stats.update(cagr=math.nan, volatility=math.nan, sharpe=math.nan, sortino=math.nan, calmar=math.nan)
        self.rets.update(stats)
        self.rets.update(
            exposure=self._bars_in_market / self._bars if self._bars else math.nan,
            bars=self._bars,
            periods_per_year=ppy,
            riskfree=float(self.p.riskfree),
            returns=returns,
        )
