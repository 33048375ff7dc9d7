"""An outside audit of sizing on real data: an entry the broker refuses for want of cash must
never vanish silently (issue 9: "sizing that never silently stops")."""
from __future__ import annotations

import logging

import pytest

from btedge.engine import BacktestConfig, run_backtest
from btedge.feeds import load_csv
from btedge.strategies import LaguerreCross
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared


def _btc_30min():
    return load_csv(require_shared("repos", "intraday", "pyalgotrade_bitstamp_btcusd_30min_2014.csv"))


def test_fractional_units_at_095_trade():
    """The control: the same run with the default fraction trades (52 round trips)."""
    result = run_backtest(LaguerreCross, [("btc", _btc_30min())], {"integer": False}, BacktestConfig(cash=10_000))
    assert result.trades["trades"] > 20


def test_entries_refused_for_cash_are_reported_not_silent(caplog):
    """``fraction`` accepts (0, 1]; at 1.0 with fractional units every entry needs value * (1 +
    costs) and the broker refuses it (Margin). The user must get trades, or a WARNING and a count
    of the refused entries in the results, never a flat line that looks like 'no signal'."""
    with caplog.at_level(logging.WARNING):
        result = run_backtest(LaguerreCross, [("btc", _btc_30min())], {"integer": False, "fraction": 1.0},
                              BacktestConfig(cash=10_000))
    if result.trades["trades"] > 0:
        return
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("btedge")]
    assert warned, "no trade and no WARNING"
    assert result.trades["skipped_entries"] > 0, "refused entries are not counted in the results"
