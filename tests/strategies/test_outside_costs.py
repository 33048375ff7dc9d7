"""lagnet_forecast's cost threshold against the run's real costs: a --commission or --slippage
that makes a round trip cost more (or less) than ``cost`` is said, with the value to pass."""
from __future__ import annotations

import logging

import pytest

from btedge.engine import BacktestConfig, run_backtest
from btedge.feeds import load_csv
from btedge.strategies.ml import LagNetForecast
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared
NO_FOLD = {"train_bars": 5000, "retrain_every": 500}  # nothing trains: only the start-up check runs


def _ko():
    return load_csv(require_shared("repos", "daily", "backtrader_KO_1997-1998.csv")).iloc[:120]


def _cost_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "round trip" in r.getMessage()]


def test_default_costs_agree_with_the_default_threshold(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        run_backtest(LagNetForecast, [("ko", _ko())], {**NO_FOLD, "cache_dir": str(tmp_path)})
    assert _cost_warnings(caplog) == []


def test_a_higher_commission_than_cost_assumes_is_said_with_the_fix(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        run_backtest(LagNetForecast, [("ko", _ko())], {**NO_FOLD, "cache_dir": str(tmp_path)},
                     BacktestConfig(commission=0.002, slippage=0.0005))
    (message,) = _cost_warnings(caplog)
    assert "cost=0.0012" in message and "--param cost=0.005" in message


def test_an_explicit_matching_cost_is_quiet(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        run_backtest(LagNetForecast, [("ko", _ko())], {**NO_FOLD, "cache_dir": str(tmp_path), "cost": 0.005},
                     BacktestConfig(commission=0.002, slippage=0.0005))
    assert _cost_warnings(caplog) == []
