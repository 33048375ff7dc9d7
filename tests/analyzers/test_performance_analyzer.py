"""Performance analyzer: figures equal quantstats' and backtrader's DrawDown on real data."""
from __future__ import annotations

import logging
import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
import quantstats as qs

from btedge.analyzers import Performance
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


def assert_matches_quantstats(strat, riskfree: float = 0.0) -> None:
    perf, returns = strat.analyzers.perf.get_analysis(), strat.analyzers.perf.returns
    periods = perf["periods_per_year"]
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
    assert len(strat.analyzers.perf.returns) == perf["bars"] == 255
    assert 0.0 < perf["exposure"] < 1.0
    assert_matches_quantstats(strat)
    assert_matches_drawdown_analyzer(strat)


def test_daily_riskfree_and_shorts_match_quantstats():
    strat = run(daily_2006(), both=True, perf_kw=dict(riskfree=0.04))
    perf = strat.analyzers.perf.get_analysis()
    assert perf["riskfree"] == 0.04
    assert_matches_quantstats(strat, riskfree=0.04)
    assert_matches_drawdown_analyzer(strat)


def test_spy_1min_regular_hours():
    strat = run(spy_1min(), feed_kw=MINUTES, fast=10, slow=30)
    perf = strat.analyzers.perf.get_analysis()
    assert perf["periods_per_year"] == 391 * 252  # this file stamps 09:30 to 16:00 inclusive
    assert strat.analyzers.perf.returns.index[0] == pd.Timestamp("2020-12-15 09:30")
    assert_matches_quantstats(strat)
    assert_matches_drawdown_analyzer(strat)


@pytest.mark.slow
def test_btc_1min_24_7():
    strat = run(btc_1min(days=4), feed_kw=MINUTES, cash=10_000_000.0, fast=15, slow=60, both=True)
    perf = strat.analyzers.perf.get_analysis()
    assert perf["periods_per_year"] == 525_600
    assert_matches_quantstats(strat)
    assert_matches_drawdown_analyzer(strat)


def test_periods_per_year_param_overrides_inference():
    analyzer = run(daily_2006(), perf_kw=dict(periods_per_year=365)).analyzers.perf
    perf = analyzer.get_analysis()
    assert perf["periods_per_year"] == 365.0
    assert perf["sharpe"] == pytest.approx(qs.stats.sharpe(analyzer.returns, periods=365), rel=REL)


def test_returns_are_the_same_in_every_engine_mode():
    df = daily_2006()
    series = [
        run(df, cerebro_kw=kw).analyzers.perf.returns
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
    returns = strat.analyzers.perf.returns
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
    # declared Days explicitly: a FrameData given no timeframe infers it (one return per bar)
    with caplog.at_level(logging.WARNING, logger="btedge.analyzers.performance"):
        returns = run(spy_1min(), fast=10, slow=30, feed_kw=dict(timeframe=bt.TimeFrame.Days)).analyzers.perf.returns
    assert len(returns) == 4  # daily buckets: the feed claims Days
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


# -- O(1) per bar: the returns are TimeReturn's, bit for bit ---------------------------------
@pytest.mark.parametrize(
    "make, feed_kw, perf_kw",
    [
        (daily_2006, {}, {}),
        (daily_2006, {}, dict(timeframe=bt.TimeFrame.Weeks)),
        (daily_2006, {}, dict(timeframe=bt.TimeFrame.Months)),
        (daily_2006, {}, dict(timeframe=bt.TimeFrame.NoTimeFrame)),
        (spy_1min, MINUTES, {}),
        (spy_1min, MINUTES, dict(timeframe=bt.TimeFrame.Minutes, compression=7)),
        (spy_1min, MINUTES, dict(timeframe=bt.TimeFrame.Days)),
        (spy_1min, MINUTES, dict(fund=True)),
    ],
    ids=["daily", "weeks", "months", "whole-run", "1min", "7min", "days-of-minutes", "fund"],
)
def test_returns_equal_backtrader_timereturn(make, feed_kw, perf_kw):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(100_000.0)
    cerebro.adddata(FrameData(dataname=make(), **feed_kw))
    cerebro.addstrategy(SmaCross, both=True)
    cerebro.addanalyzer(Performance, _name="perf", periods_per_year=252, **perf_kw)
    tr_kw = {k: v for k, v in perf_kw.items() if k in ("timeframe", "compression", "fund")}
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="tr", **tr_kw)
    strat = cerebro.run()[0]
    expected = strat.analyzers.tr.get_analysis()
    returns = strat.analyzers.perf.returns
    assert returns.tolist() == list(expected.values())  # exactly, not approximately
    assert len(returns) == len(expected)


def test_get_analysis_is_scalar_and_carries_the_span():
    strat = run(spy_1min(), feed_kw=MINUTES, fast=10, slow=30)
    perf = strat.analyzers.perf.get_analysis()
    assert not any(isinstance(v, (pd.Series, pd.DataFrame, np.ndarray)) for v in perf.values())
    assert perf["first_bar"] == pd.Timestamp("2020-12-15 09:30")
    assert perf["last_bar"] == pd.Timestamp("2020-12-18 16:00")
    assert perf["timeframe"] == "1 min" and perf["bars"] == 1564


def test_spy_extended_hours_sharpe_uses_sessions():
    """Extended-hours SPY in UTC: 178,542 periods a year (was 523,410), Sharpe equal to quantstats'."""
    path = require_shared("repos", "intraday", "pyalgotrade_nt-spy-minute-2011-01.csv")
    raw = pd.read_csv(path, sep=";", header=None, names=["dt", "open", "high", "low", "close", "volume"])
    df = raw.set_index(pd.DatetimeIndex(pd.to_datetime(raw.pop("dt"), format="%Y%m%d %H%M%S"), name="datetime"))
    strat = run(df, feed_kw=MINUTES, fast=30, slow=120)
    assert strat.analyzers.perf.get_analysis()["periods_per_year"] == 178_542
    assert_matches_quantstats(strat)
