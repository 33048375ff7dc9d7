"""Next-open trading after costs, by hand."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.evaluation.trading import buy_and_hold, max_drawdown, positions, trade


def test_positions_follow_the_decision_one_bar_later_and_the_gate_blocks_entries_only():
    side = np.array([1, 1, -1, np.nan, 0, 1, 1])
    conf = np.array([0.9, 0.9, 0.3, 0.9, 0.9, 0.9, 0.9])
    assert positions(side).tolist() == [0, 1, 1, -1, 0, 0, 1]
    # the low-confidence short at bar 2 exits the long but does not enter
    assert positions(side, conf, 0.5).tolist() == [0, 1, 1, 0, 0, 0, 1]


def test_returns_costs_and_trades_by_hand():
    o = np.array([100.0, 100.0, 110.0, 99.0, 99.0])
    side = np.array([1, -1, 0, 0, 0])
    res = trade(o, side, cost=0.001)
    # long from open 1 to open 2 (+10%), short from open 2 to open 3 (+10%), flat after
    assert res.positions.tolist() == [0, 1, -1, 0, 0]
    assert res.returns == pytest.approx([0.0, 0.1 - 0.001, 0.1 - 0.002, -0.001, 0.0])
    assert res.trade_returns == pytest.approx([0.1 - 0.002, 0.1 - 0.002])


def test_a_trade_open_at_the_end_is_not_counted():
    res = trade(np.array([1.0, 1.0, 2.0, 3.0]), np.array([1, 1, 1, 1]), cost=0.0)
    assert res.n_trades == 0 and res.returns[1:3].tolist() == [1.0, 0.5]


def test_buy_and_hold_pays_entry_and_exit():
    res = buy_and_hold(np.array([10.0, 11.0, 12.1]), cost=0.001)
    assert res.returns == pytest.approx([0.1 - 0.001, 0.1, -0.001])
    assert res.trade_returns == pytest.approx([0.21 - 0.002])


def test_max_drawdown():
    assert max_drawdown(np.array([0.1, -0.5, 0.2])) == pytest.approx(0.5)
