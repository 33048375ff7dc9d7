"""Performance analyzer: figures equal quantstats' and backtrader's DrawDown on real data."""
from __future__ import annotations

import logging
import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from btedge.analyzers import Performance, infer_periods_per_year, performance_stats
from btedge.feeds import FrameData
from tests.support.shared import require_shared

REL = 1e-9
pytestmark = pytest.mark.shared


# -- data and strategies ---------------------------------------------------------------------
def daily_2006() -> pd.DataFrame:
    path = require_shared("repos", "backtrader", "2006-day-001.txt")
    return pd.read_csv(path, parse_dates=["Date"], index_col="Date")


def spy_1min() -> pd.DataFrame:
    """SPY, 1-minute bars in regular hours, 4 days (Stock.Indicators test data)."""
    path = require_shared("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv")
    df = pd.read_csv(path, encoding="utf-8-sig")
    return df.set_index(pd.DatetimeIndex(pd.to_datetime(df.pop("date")), name="datetime"))


def btc_1min(days: int = 4) -> pd.DataFrame:
    """BTC perpetual, 1-minute bars, 24/7 (nautilus_trader test data), first ``days`` days."""
    path = require_shared("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz")
    df = pd.read_csv(path, parse_dates=["timestamp"], index_col="timestamp")
    return df.loc[: df.index[0] + pd.Timedelta(days=days)]


class SmaCross(bt.Strategy):
    """Long when the fast SMA is above the slow one, short below (direction='both')."""

    params = (("fast", 5), ("slow", 20), ("both", False))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))

    def next(self) -> None:
        if self.cross > 0:
            self.order_target_percent(target=0.9)
        elif self.cross < 0:
            self.order_target_percent(target=-0.9 if self.p.both else 0.0)


class HoldFromStart(bt.Strategy):
    def next(self) -> None:
        if not self.position:
            self.order_target_percent(target=0.5)


class DoNothing(bt.Strategy):
    pass


def run(df, strategy=SmaCross, feed_kw=None, perf_kw=None, cerebro_kw=None, cash=100_000.0, **strat_kw):
    cerebro = bt.Cerebro(stdstats=False, **(cerebro_kw or {}))
    cerebro.broker.setcash(cash)
    cerebro.adddata(FrameData(dataname=df, **(feed_kw or {})))
    cerebro.broker.setcommission(commission=0.0005)
    cerebro.addstrategy(strategy, **strat_kw)
    cerebro.addanalyzer(Performance, _name="perf", **(perf_kw or {}))
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="dd")
    return cerebro.run()[0]


MINUTES = dict(timeframe=bt.TimeFrame.Minutes, compression=1)


def assert_matches_quantstats(perf: dict, riskfree: float = 0.0) -> None:
    returns, periods = perf["returns"], perf["periods_per_year"]
    expected = {
        "sharpe": qs.stats.sharpe(returns, rf=riskfree, periods=periods),
        "sortino": qs.stats.sortino(returns, rf=riskfree, periods=periods),
        "volatility": qs.stats.volatility(returns, periods=periods),
        "cagr": qs.stats.cagr(returns, periods=periods),
        "max_drawdown": -qs.stats.max_drawdown(returns),  # quantstats: negative fraction
        "calmar": qs.stats.calmar(returns, periods=periods),
        "total_return": qs.stats.comp(returns),
    }
    for key, value in expected.items():
        assert math.isfinite(value) and value != 0.0, f"{key}: degenerate reference {value}"
        assert perf[key] == pytest.approx(value, rel=REL), key


def assert_matches_drawdown_analyzer(strat) -> None:
    perf, dd = strat.analyzers.perf.get_analysis(), strat.analyzers.dd.get_analysis()
    assert perf["max_drawdown"] * 100.0 == pytest.approx(dd.max.drawdown, rel=REL)
    assert perf["max_drawdown_duration"] == dd.max.len


# -- cross-checks on real data ---------------------------------------------------------------
def test_daily_matches_quantstats_and_drawdown():
    strat = run(daily_2006())
    perf = strat.analyzers.perf.get_analysis()
    assert perf["periods_per_year"] == 252.0
    assert len(perf["returns"]) == perf["bars"] == 255
    assert 0.0 < perf["exposure"] < 1.0
    assert_matches_quantstats(perf)
    assert_matches_drawdown_analyzer(strat)


def test_daily_riskfree_and_shorts_match_quantstats():
    strat = run(daily_2006(), both=True, perf_kw=dict(riskfree=0.04))
    perf = strat.analyzers.perf.get_analysis()
    assert perf["riskfree"] == 0.04
    assert_matches_quantstats(perf, riskfree=0.04)
    assert_matches_drawdown_analyzer(strat)


def test_spy_1min_regular_hours():
    strat = run(spy_1min(), feed_kw=MINUTES, fast=10, slow=30)
    perf = strat.analyzers.perf.get_analysis()
    assert perf["periods_per_year"] == 391 * 252  # this file stamps 09:30 to 16:00 inclusive
    assert perf["returns"].index[0] == pd.Timestamp("2020-12-15 09:30")
    assert_matches_quantstats(perf)
    assert_matches_drawdown_analyzer(strat)


@pytest.mark.slow
def test_btc_1min_24_7():
    strat = run(btc_1min(days=4), feed_kw=MINUTES, cash=10_000_000.0, fast=15, slow=60, both=True)
    perf = strat.analyzers.perf.get_analysis()
    assert perf["periods_per_year"] == 525_600
    assert_matches_quantstats(perf)
    assert_matches_drawdown_analyzer(strat)


def test_periods_per_year_param_overrides_inference():
    perf = run(daily_2006(), perf_kw=dict(periods_per_year=365)).analyzers.perf.get_analysis()
    assert perf["periods_per_year"] == 365.0
    assert perf["sharpe"] == pytest.approx(qs.stats.sharpe(perf["returns"], periods=365), rel=REL)


def test_returns_are_the_same_in_every_engine_mode():
    df = daily_2006()
    series = [
        run(df, cerebro_kw=kw).analyzers.perf.get_analysis()["returns"]
        for kw in (dict(runonce=True), dict(runonce=False), dict(preload=False, runonce=False))
    ]
    for other in series[1:]:
        pd.testing.assert_series_equal(series[0], other)


def test_exposure_counts_bars_with_a_position():
    perf = run(daily_2006(), strategy=HoldFromStart).analyzers.perf.get_analysis()
    # ordered on bar 0, filled at bar 1's open, held to the end
    assert perf["exposure"] == pytest.approx((perf["bars"] - 1) / perf["bars"])


def test_drawdown_duration_timedelta_spans_peak_to_recovery():
    strat = run(daily_2006())
    perf = strat.analyzers.perf.get_analysis()
    returns = perf["returns"]
    equity = (1.0 + returns).cumprod()
    under = equity < equity.cummax() * (1 - 1e-12)
    runs = (under != under.shift()).cumsum()[under]
    longest = runs.value_counts().idxmax()
    stamps = runs.index[runs == longest]
    position = returns.index.get_loc(stamps[-1])
    end = returns.index[min(position + 1, len(returns) - 1)]
    peak = returns.index[returns.index.get_loc(stamps[0]) - 1]
    assert perf["max_drawdown_duration"] == len(stamps)
    assert perf["max_drawdown_timedelta"] == end - peak


def test_no_trades_gives_nan_ratios_without_errors():
    perf = run(daily_2006(), strategy=DoNothing).analyzers.perf.get_analysis()
    assert perf["total_return"] == 0.0
    assert perf["max_drawdown"] == 0.0 and perf["max_drawdown_duration"] == 0
    assert math.isnan(perf["sharpe"]) and math.isnan(perf["sortino"]) and math.isnan(perf["calmar"])
    assert perf["exposure"] == 0.0


def test_undeclared_intraday_feed_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="btedge.analyzers.performance"):
        perf = run(spy_1min(), fast=10, slow=30).analyzers.perf.get_analysis()
    assert len(perf["returns"]) == 4  # daily buckets: the feed claims Days
    assert "declared daily" in caplog.text


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(periods_per_year=0), "periods_per_year"),
        (dict(periods_per_year="daily"), "periods_per_year"),
        (dict(riskfree=1.5), "riskfree"),
        (dict(riskfree=-0.01), "riskfree"),
        (dict(compression=0), "compression"),
        (dict(timeframe=bt.TimeFrame.Ticks), "timeframe"),
    ],
)
def test_bad_params_are_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        run(daily_2006(), strategy=DoNothing, perf_kw=kw)


# -- periods per year ------------------------------------------------------------------------
def _intraday(days: pd.DatetimeIndex, start: str, end: str, freq: str) -> pd.DatetimeIndex:
    stamps = [pd.date_range(day + pd.Timedelta(start + ":00"), day + pd.Timedelta(end + ":00"), freq=freq) for day in days]
    return pd.DatetimeIndex(np.concatenate([s.to_numpy() for s in stamps]))


@pytest.mark.parametrize(
    "index, expected",
    [
        (pd.bdate_range("2020-01-01", periods=300), 252),
        (pd.date_range("2020-01-01", periods=300, freq="D"), 365),
        (pd.date_range("2020-01-01", periods=60 * 24 * 10, freq="min"), 525_600),
        (pd.date_range("2020-01-01", periods=24 * 30, freq="h"), 8_760),
        (_intraday(pd.bdate_range("2020-01-06", periods=10), "09:30", "15:59", "min"), 98_280),
        (_intraday(pd.bdate_range("2020-01-06", periods=10), "09:35", "16:00", "5min"), 78 * 252),
        (_intraday(pd.bdate_range("2020-01-06", periods=10), "00:00", "23:59", "min"), 1440 * 252),
        (pd.date_range("2020-01-03", periods=100, freq="W-FRI"), 52),
        (pd.date_range("2020-01-31", periods=36, freq="ME"), 12),
    ],
    ids=["daily-stocks", "daily-crypto", "1min-crypto", "1h-crypto", "1min-rth", "5min-rth",
         "1min-fx", "weekly", "monthly"],
)
def test_infer_periods_per_year(index, expected):
    assert infer_periods_per_year(index) == expected


def test_infer_periods_per_year_ignores_missing_bars_inside_sessions():
    index = _intraday(pd.bdate_range("2020-01-06", periods=10), "09:30", "15:59", "min")
    thinned = index.delete(np.arange(5, len(index), 7))  # drop every 7th bar, not the ends
    assert infer_periods_per_year(thinned) == 98_280


def test_infer_periods_per_year_on_backtrader_5min_file():
    path = require_shared("repos", "backtrader", "2006-min-005.txt")
    df = pd.read_csv(path)
    index = pd.to_datetime(df["Date"] + " " + df["Time"])
    assert infer_periods_per_year(index) == 102 * 252  # 09:05 to 17:30 every 5 minutes


def test_infer_periods_per_year_needs_three_timestamps():
    with pytest.raises(ValueError, match="at least 3"):
        infer_periods_per_year(pd.DatetimeIndex(["2020-01-01", "2020-01-02"]))


def test_performance_stats_first_period_loss_is_a_drawdown():
    returns = pd.Series([-0.1, 0.05, 0.02], index=pd.bdate_range("2020-01-01", periods=3))
    stats = performance_stats(returns, 252)
    assert stats["max_drawdown"] == pytest.approx(-qs.stats.max_drawdown(returns), rel=REL)
    assert stats["max_drawdown"] == pytest.approx(0.1)
    assert stats["max_drawdown_duration"] == 3


def test_performance_stats_rejects_bad_periods():
    with pytest.raises(ValueError, match="periods_per_year"):
        performance_stats(pd.Series([0.01, 0.02]), 0)
