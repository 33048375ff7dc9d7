"""DualMomentum's rebalance schedule (``anchor``) on the real 23-ETF panel: ``'start'`` (the
backtest default through ``'auto'``) counts bars from the first ready bar, so its dates move with
the data's first bar; ``'time'`` counts weekdays from a fixed Monday, so its dates do not."""
from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from btedge.engine import BacktestConfig, run_backtest
from btedge.feeds import load_panel
from btedge.strategies.momentum import ANCHOR_DAY, DualMomentum
from tests.support.shared import require_shared

ETFS = ("repos", "daily", "arbitragelab_23etfs_2008-2016.csv.gz")
SYMBOLS = ["SPY", "EFA", "EEM", "TLT", "IEF", "XLE", "XLK", "CSJ"]
BASE = dict(lookback=63, rebalance=21, top=2, cash_proxy="CSJ")
SKIP = 7  # bars dropped from the start of every data: a shorter history (a live restart's shorter backfill)


@pytest.fixture(scope="module")
def panel() -> list[tuple[str, pd.DataFrame]]:
    frames = load_panel(require_shared(*ETFS), columns=SYMBOLS)
    return [(name, df.loc["2008-01-01":"2010-12-31"]) for name, df in frames.items()]


class Recorded(DualMomentum):
    """Records each rebalance's bar date and every order's (date, data, status, size)."""

    def start(self) -> None:
        super().start()
        self.dates: list[str] = []
        self.orders: list[tuple] = []

    def next(self) -> None:
        before = len(self.rebalances)
        super().next()
        if len(self.rebalances) > before:
            self.dates.append(self.datetime.date(0).isoformat())

    prenext = next

    def notify_order(self, order: bt.Order) -> None:
        super().notify_order(order)
        if not order.alive():
            self.orders.append((bt.num2date(order.created.dt).date().isoformat(), order.data._name,
                                order.getstatusname(), round(order.executed.size, 6)))


def _run(frames: list[tuple[str, pd.DataFrame]], **params: object) -> Recorded:
    return run_backtest(Recorded, frames, {**BASE, **params}, BacktestConfig(benchmark=False)).strategy


def _later(frames: list[tuple[str, pd.DataFrame]]) -> list[tuple[str, pd.DataFrame]]:
    return [(name, df.iloc[SKIP:]) for name, df in frames]


def test_auto_is_start_in_a_backtest_same_orders(panel):
    auto, start = _run(panel), _run(panel, anchor="start")
    assert auto.anchor == "start"
    assert auto.orders == start.orders and auto.rebalances == start.rebalances
    assert len(auto.orders) > 50


def test_start_anchor_moves_with_the_first_bar(panel):
    """The premise of ``'time'``: counted bars put the rebalances elsewhere when history is shorter."""
    full, later = _run(panel, anchor="start"), _run(_later(panel), anchor="start")
    overlap = set(later.dates)
    assert not overlap & set(full.dates)  # SKIP is no multiple of 21: no date in common


def test_time_anchor_dates_do_not_move_with_the_first_bar(panel):
    full, later = _run(panel, anchor="time"), _run(_later(panel), anchor="time")
    assert later.dates == [d for d in full.dates if d >= later.dates[0]]
    assert later.rebalances[-5:] == full.rebalances[-5:]  # and the same weights on them
    assert len(full.dates) > 20


def test_time_anchor_rebalances_on_the_first_bar_of_each_block_of_weekdays(panel):
    """Checked against numpy's weekday count: each bar with enough history whose 21-weekday block
    (counted from Monday 1970-01-05) differs from the previous bar's; not the first ready bar
    itself (it would depend on where the data starts)."""
    strat = _run(panel, anchor="time")
    days = panel[0][1].index
    blocks = np.busday_count(ANCHOR_DAY, days.values.astype("datetime64[D]")) // BASE["rebalance"]
    ready = BASE["lookback"]  # need - 1: the first bar with lookback + 1 closes
    want = [days[i].date().isoformat() for i in range(ready, len(days)) if blocks[i] != blocks[i - 1]]
    assert strat.dates == want


def test_bad_anchor_names_the_choices(panel):
    with pytest.raises(ValueError, match=r"anchor must be one of \('auto', 'start', 'time'\), got 'month'"):
        _run(panel, anchor="month")
