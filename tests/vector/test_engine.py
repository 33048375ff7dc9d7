"""btedge.vector.engine: run_backtest's figures, the fallback, parameter checks."""
from __future__ import annotations

import json
import logging
import math

import pytest

from btedge.engine import BacktestConfig, run_backtest
from btedge.strategies import LONG, BaseStrategy, LaguerreChannelBreakout, LaguerreCross, LaguerreTrend
from btedge.strategies.base import TIE
from btedge.vector import run_vector, unsupported
from btedge.vector.engine import vector_backtest
from btedge.vector.signals import TIE as VECTOR_TIE
from tests.support.btc import btc

pytestmark = pytest.mark.shared


class AlwaysLong(BaseStrategy):
    def target(self) -> int:
        return LONG


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return a == b


def test_vector_backtest_gives_run_backtest_figures():
    frames = [("BTC", btc(1500))]
    params = {"direction": "both", "stop_loss": 0.004, "integer": False}
    config = BacktestConfig(periods_per_year=525_600)
    want = run_backtest(LaguerreCross, frames, params, config)
    got = vector_backtest(LaguerreCross, frames, params, config)
    assert want.trades["trades"] > 10
    for ours, theirs in ((got.metrics, want.metrics), (got.trades, want.trades),
                         (got.benchmark_metrics, want.benchmark_metrics)):
        assert set(ours) == set(theirs)
        assert all(_same(ours[k], theirs[k]) for k in theirs), [k for k in theirs if not _same(ours[k], theirs[k])]


class CrossWithOwnTarget(LaguerreCross):
    """A user's subclass: inherits vector_signals, but trades on its own target."""

    def target(self) -> int:
        return LONG


class CrossWithOtherDefaults(LaguerreCross):
    """Only new defaults: still the vector signals' rules."""

    params = (("gamma_fast", 0.3),)


def test_a_subclass_overriding_a_hook_runs_in_backtrader(caplog):
    frames = [("BTC", btc(300))]
    reason = unsupported(CrossWithOwnTarget, frames)
    assert "overrides target of LaguerreCross" in reason
    assert unsupported(CrossWithOtherDefaults, frames) is None
    caplog.set_level(logging.WARNING, logger="btedge.vector.engine")
    result = vector_backtest(CrossWithOwnTarget, frames, {"integer": False}, BacktestConfig(benchmark=False))
    assert result.strategy is not None and result.trades["trades"] == 0  # always long: one open trade
    assert sum("overrides target" in r.message for r in caplog.records) == 1


def test_unsupported_runs_in_backtrader_with_one_line(caplog):
    frames = [("BTC", btc(300))]
    assert "declares no vector_signals" in unsupported(AlwaysLong, frames)
    assert "2 datas" in unsupported(LaguerreCross, frames * 2)
    assert unsupported(LaguerreCross, frames) is None
    caplog.set_level(logging.WARNING, logger="btedge.vector.engine")
    result = vector_backtest(AlwaysLong, frames, {"integer": False}, BacktestConfig(benchmark=False))
    assert result.strategy is not None  # a cerebro run
    assert sum("not the vector engine" in r.message for r in caplog.records) == 1
    with pytest.raises(ValueError, match="declares no vector_signals"):
        run_vector(AlwaysLong, frames)


@pytest.mark.parametrize("strategy, params, message", [
    (LaguerreCross, {"gamma_fast": 0.8, "gamma_slow": 0.2}, "must be below gamma_slow"),
    (LaguerreCross, {"direction": "sideways"}, "direction must be one of"),
    (LaguerreCross, {"stop_loss": 1.5}, "stop_loss must be in"),
    (LaguerreTrend, {"band": 0.7}, "band must be in"),
    (LaguerreTrend, {"gamma": 1.2}, "gamma must be in"),
    (LaguerreChannelBreakout, {"period": 1}, "period must be >= 2"),
    (LaguerreCross, {"gama": 0.1}, "unknown param"),
])
def test_bad_params_raise_as_in_backtrader(strategy, params, message):
    with pytest.raises(ValueError, match=message):
        run_vector(strategy, [("BTC", btc(100))], params)


def test_tie_tolerance_is_the_strategies():
    assert VECTOR_TIE == TIE


def test_cli_engine_vector_writes_the_backtrader_figures(tmp_path, capsys):
    from btedge.run_backtest import main

    csv = tmp_path / "btc.csv"
    btc(800).to_csv(csv, index_label="timestamp")
    outputs = {}
    for engine in ("backtrader", "vector"):
        out = tmp_path / f"{engine}.json"
        assert main(["--strategy", "laguerre_cross", "--data", str(csv), "--param", "integer=False",
                     "--engine", engine, "--json", str(out)]) == 0
        outputs[engine] = json.loads(out.read_text())
    for part in ("strategy", "trades", "buy_and_hold"):
        want, got = outputs["backtrader"][part], outputs["vector"][part]
        assert set(got) == set(want)
        assert all(_same(got[k], want[k]) for k in want), part


def test_every_registered_single_asset_strategy_runs_in_the_vector_engine():
    """Every registered BaseStrategy (the ML strategies included) declares vector_signals; only
    the multi-asset bt.Strategy classes fall back."""
    from btedge.strategies.registry import available

    frames = [("BTC", btc(50))]
    single = {name for name, cls in available().items() if issubclass(cls, BaseStrategy)}
    assert {"lagnet_forecast", "ensemble", "anomaly_breakout", "laguerre_cross", "buy_and_hold"} <= single
    assert {name: unsupported(available()[name], frames) for name in single} == dict.fromkeys(single)
    multi = set(available()) - single
    assert multi and all("declares no vector_signals" in unsupported(available()[name], frames) for name in multi)
