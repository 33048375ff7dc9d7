"""TradeStats: cross-checked against bt.analyzers.TradeAnalyzer on the same run."""
from __future__ import annotations

import math

import backtrader as bt
import pandas as pd
import pytest

from btedge.analyzers import TradeStats, trade_stats
from btedge.feeds import FrameData
from tests.support.shared import require_shared

REL = 1e-12


def daily_2006() -> pd.DataFrame:
    path = require_shared("repos", "backtrader", "2006-day-001.txt")
    return pd.read_csv(path, parse_dates=["Date"], index_col="Date")


class Reversal(bt.Strategy):
    """Long above the slow SMA, short below: many closed trades of both signs."""

    params = (("period", 10),)

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(self.data.close, bt.ind.SMA(period=self.p.period))

    def next(self) -> None:
        if self.cross > 0:
            self.order_target_size(target=20)
        elif self.cross < 0:
            self.order_target_size(target=-20)


class DoNothing(bt.Strategy):
    pass


def run(strategy, df=None, commission=0.001, **trade_kw):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=daily_2006() if df is None else df))
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.setcommission(commission=commission)
    cerebro.addstrategy(strategy)
    cerebro.addanalyzer(TradeStats, _name="ts", **trade_kw)
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="ta")
    strat = cerebro.run()[0]
    return strat.analyzers.ts.get_analysis(), strat.analyzers.ta.get_analysis()


@pytest.mark.shared
def test_matches_trade_analyzer_with_commission():
    ts, ta = run(Reversal)
    assert ts["trades"] == ta.total.closed >= 10
    assert ts["open"] == ta.total.open
    assert ts["even"] == 0  # so TradeAnalyzer's won (pnlcomm >= 0) equals ours (> 0)
    assert ts["won"] == ta.won.total and ts["lost"] == ta.lost.total
    assert ts["won"] > 0 and ts["lost"] > 0
    assert ts["win_rate"] == pytest.approx(ta.won.total / ta.total.closed, rel=REL)
    assert ts["avg_win"] == pytest.approx(ta.won.pnl.average, rel=REL)
    assert ts["avg_loss"] == pytest.approx(ta.lost.pnl.average, rel=REL)
    assert ts["largest_win"] == pytest.approx(ta.won.pnl.max, rel=REL)
    assert ts["largest_loss"] == pytest.approx(ta.lost.pnl.max, rel=REL)
    assert ts["profit_factor"] == pytest.approx(ta.won.pnl.total / -ta.lost.pnl.total, rel=REL)
    assert ts["expectancy"] == pytest.approx(ta.pnl.net.average, rel=REL)
    assert ts["longest_win_streak"] == ta.streak.won.longest
    assert ts["longest_loss_streak"] == ta.streak.lost.longest
    assert ts["pnl_net"] == pytest.approx(ta.pnl.net.total, rel=REL)
    assert ts["pnl_gross"] == pytest.approx(ta.pnl.gross.total, rel=REL)
    assert ts["commission"] > 0.0
    assert ts["avg_bars"] == pytest.approx(ta.len.average, rel=REL)


@pytest.mark.shared
def test_commission_is_included():
    with_fees, _ = run(Reversal, commission=0.001)
    no_fees, _ = run(Reversal, commission=0.0)
    assert no_fees["commission"] == pytest.approx(0.0, abs=1e-9)
    assert with_fees["pnl_gross"] == pytest.approx(no_fees["pnl_gross"], rel=1e-9)
    assert with_fees["pnl_net"] < no_fees["pnl_net"]


@pytest.mark.shared
def test_zero_trades():
    ts, ta = run(DoNothing)
    assert ts["trades"] == 0 and ts["open"] == 0
    for key in ("win_rate", "avg_win", "avg_loss", "profit_factor", "expectancy", "avg_bars"):
        assert ts[key] is None, key
    assert ts["longest_win_streak"] == ts["longest_loss_streak"] == 0
    assert ts["pnl_net"] == ts["pnl_gross"] == 0.0


def test_no_losses_gives_infinite_profit_factor():
    stats = trade_stats([10.0, 5.0], [11.0, 6.0], [3, 4])
    assert stats["profit_factor"] == math.inf
    assert stats["avg_loss"] is None and stats["largest_loss"] is None
    assert stats["win_rate"] == 1.0 and stats["commission"] == pytest.approx(2.0)


def test_breakeven_trades_are_neither_wins_nor_losses_and_end_streaks():
    stats = trade_stats([5.0, 5.0, 0.0, 5.0, -1.0, -2.0, 0.0, -3.0], [0.0] * 8, [1] * 8)
    assert (stats["won"], stats["lost"], stats["even"]) == (3, 3, 2)
    assert stats["longest_win_streak"] == 2 and stats["longest_loss_streak"] == 2
    assert stats["profit_factor"] == pytest.approx(15.0 / 6.0)
    assert stats["expectancy"] == pytest.approx(9.0 / 8.0)
    only_even = trade_stats([0.0], [0.0], [2])
    assert only_even["profit_factor"] is None and only_even["win_rate"] == 0.0


@pytest.mark.shared
def test_bad_data_param_is_rejected():
    class WithForeignData(bt.Strategy):
        pass

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=daily_2006()))
    cerebro.addstrategy(WithForeignData)
    cerebro.addanalyzer(TradeStats, data=object())
    with pytest.raises(ValueError, match="data must be"):
        cerebro.run()
