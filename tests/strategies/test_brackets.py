"""Bracket exits: after a stop-loss or take-profit fill, re-enter only on a new signal (issue 9
item 7), or on the next bar with ``reenter=True``; real ETH/BTC 5-minute and BTC-USD 4-hour bars."""
from __future__ import annotations

import backtrader as bt
import pandas as pd
import pytest

from btedge.engine import BacktestConfig, run_backtest
from btedge.feeds import FrameData, load_csv
from btedge.strategies import LaguerreCross
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared
BRACKETS = {"stop_loss": 0.01, "take_profit": 0.02}


@pytest.fixture(scope="module")
def eth_btc() -> pd.DataFrame:
    path = require_shared("repos", "intraday", "freqtrade_10pairs_BTC_5m_2018-01.csv.gz")
    return load_csv(path, symbol="ETH/BTC")


class Recorded(LaguerreCross):
    """LaguerreCross that records, per bar, the target it saw and the bracket exits and entries."""

    def __init__(self) -> None:
        super().__init__()
        self.targets: list[int] = []
        self.exits: list[tuple[int, int]] = []  # (bar, side closed)
        self.entries: list[tuple[int, int]] = []  # (bar the order was placed on, side)

    def next(self) -> None:
        self.targets.append(self._clamp(self.target()))
        before = list(self._pending)
        super().next()
        for order in self._pending:
            if order not in before and order.exectype == bt.Order.Market and self._side() == 0:
                self.entries.append((len(self) - 1, 1 if order.isbuy() else -1))

    def notify_order(self, order: bt.Order) -> None:
        if order in self._bracket_legs and order.status == order.Completed:
            self.exits.append((len(self) - 1, -1 if order.isbuy() else 1))
        super().notify_order(order)


def run(df: pd.DataFrame, **params) -> Recorded:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=df, timeframe=bt.TimeFrame.Minutes, compression=5))
    cerebro.broker.setcommission(commission=0.0005)
    cerebro.addstrategy(Recorded, integer=False, direction="both", **params)
    return cerebro.run()[0]


def _reentries_without_new_signal(strat: Recorded) -> int:
    """Entries on the side a bracket exit closed, with that side the target on every bar between."""
    count = 0
    for exit_bar, side in strat.exits:
        entry = next(((bar, s) for bar, s in strat.entries if bar >= exit_bar), None)
        if entry and entry[1] == side and all(t == side for t in strat.targets[exit_bar:entry[0] + 1]):
            count += 1
    return count


def test_after_a_bracket_exit_the_strategy_waits_for_a_new_signal(eth_btc):
    strat = run(eth_btc, **BRACKETS)
    assert len(strat.exits) >= 20, "1%/2% brackets should fire often on 20 days of 5-minute ETH/BTC"
    assert _reentries_without_new_signal(strat) == 0


def test_reenter_true_keeps_the_old_behaviour(eth_btc):
    strat = run(eth_btc, reenter=True, **BRACKETS)
    assert _reentries_without_new_signal(strat) >= 10


def test_trade_counts_before_and_after(eth_btc):
    """Default brackets trade once per signal, as without brackets; reenter=True trades far more."""
    config = BacktestConfig(benchmark=False)

    def trades(**params) -> int:
        result = run_backtest(LaguerreCross, [("ETH/BTC", eth_btc)], {"integer": False, "direction": "both", **params},
                              config)
        return result.trades["trades"]

    plain, brackets, old = trades(), trades(**BRACKETS), trades(reenter=True, **BRACKETS)
    assert brackets <= plain + 1
    assert old > 1.5 * brackets
