"""btedge-sweep's vector engine: the same table as backtrader, top-K re-run agreement, fallback."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from btedge.engine import BacktestConfig
from btedge.strategies import LONG, BaseStrategy, BuyAndHold
from btedge.sweeps.grid import Task, make_windows
from btedge.sweeps.runner import buy_and_hold, run_sweep, run_task
from tests.support.btc import btc

pytestmark = pytest.mark.shared

GRID = {"gamma_fast": [0.1, 0.3], "gamma_slow": [0.6, 0.8], "stop_loss": [0.0, 0.003]}
FIXED = {"direction": "both", "integer": False, "take_profit": 0.004}
SWEEP = dict(lookbacks=(None, 400), n_offsets=1, seed=11)
METRICS = ["total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "exposure",
           "n_trades", "win_rate", "profit_factor", "turnover", "periods_per_year", "bars"]


@pytest.fixture(scope="module")
def frames() -> list[tuple[str, pd.DataFrame]]:
    return [("BTC", btc(1200))]


def test_vector_sweep_equals_backtrader_sweep(frames, caplog):
    caplog.set_level(logging.INFO, logger="btedge.sweeps.runner")
    vec = run_sweep("laguerre_cross", frames, GRID, fixed=FIXED, engine="vector", verify_top=2, **SWEEP)
    ref = run_sweep("laguerre_cross", frames, GRID, fixed=FIXED, engine="backtrader", **SWEEP)
    assert vec.settings["engine"] == "vector" and ref.settings["engine"] == "backtrader"
    assert len(vec.runs) == 8 * 4 and vec.runs["n_trades"].min() > 0
    pd.testing.assert_frame_equal(vec.runs[METRICS], ref.runs[METRICS], check_exact=False, rtol=1e-9, atol=1e-12)
    for task_id, series in ref.returns.items():
        pd.testing.assert_series_equal(vec.returns[task_id], series, check_exact=False, rtol=0, atol=1e-12)
        np.testing.assert_allclose(vec.trade_returns[task_id], ref.trade_returns[task_id], rtol=1e-9, atol=1e-12)
    checks = vec.settings["verified"]
    assert len(checks) == 2 and all(c["agree"] for c in checks)
    assert sum("re-run in backtrader: agrees" in r.message for r in caplog.records) == 2


def test_buy_and_hold_per_window_is_the_engine_run(frames):
    windows = make_windows(len(frames[0][1]), (None, 300), n_offsets=2, seed=3)
    config = BacktestConfig(benchmark=False)
    table = buy_and_hold(frames, windows, config)
    for window in windows:
        want = run_task(Task(-1, -1, (("integer", False),), window), BuyAndHold, frames[:1], config).metrics
        got = table.loc[window.window_id, list(want)].astype(float)
        np.testing.assert_allclose(got.to_numpy(), np.array(list(want.values()), dtype=float), rtol=1e-9,
                                   atol=1e-12, equal_nan=True)


class AlwaysLong(BaseStrategy):
    """A user strategy without vector_signals."""

    def target(self) -> int:
        return LONG


def test_unsupported_strategy_falls_back_with_one_line(frames, caplog):
    caplog.set_level(logging.WARNING, logger="btedge.sweeps.runner")
    result = run_sweep(AlwaysLong, [("BTC", frames[0][1].iloc[:300])], {"fraction": [0.5, 0.9]})
    assert result.settings["engine"] == "backtrader"
    lines = [r.message for r in caplog.records if "not the vector engine" in r.message]
    assert len(lines) == 1 and "declares no vector_signals" in lines[0]


def test_engine_name_is_checked(frames):
    with pytest.raises(ValueError, match="engine must be one of"):
        run_sweep("laguerre_cross", frames, {"gamma_fast": [0.1]}, engine="numpy")


def test_cli_reports_the_backtrader_agreement(frames, tmp_path, capsys):
    from btedge.sweeps.cli import main

    csv = tmp_path / "btc.csv"
    frames[0][1].iloc[:600].to_csv(csv, index_label="timestamp")
    code = main(["--strategy", "laguerre_cross", "--data", str(csv), "--grid", "gamma_fast=0.1,0.3",
                 "--grid", "gamma_slow=0.7,0.8", "--param", "integer=False", "--verify-top", "2",
                 "--bootstrap", "50", "--no-progress", "--out", str(tmp_path / "out")])
    assert code == 0
    assert "engine: vector; the 2 best re-run in backtrader: 2 of 2 agree" in capsys.readouterr().out


def test_vector_sweep_on_local_processes_equals_one_process(frames, monkeypatch, caplog):
    """mode='local' splits each window's tasks over processes and joins them: the same runs,
    returns and trade returns, bit for bit, and DSR/PBO read the joined arrays."""
    from btedge.sweeps import runner
    from btedge.sweeps.analysis import analyse_sweep

    caplog.set_level(logging.INFO, logger="btedge.sweeps.runner")
    run_sweep("laguerre_cross", frames, GRID, fixed=FIXED, verify_top=0, mode="local", workers=2, **SWEEP)
    assert "too few to gain from 2 processes" in caplog.text
    monkeypatch.setattr(runner, "LOCAL_VECTOR_MIN_BARS", 0)
    caplog.clear()
    one = run_sweep("laguerre_cross", frames, GRID, fixed=FIXED, verify_top=0, **SWEEP)
    two = run_sweep("laguerre_cross", frames, GRID, fixed=FIXED, verify_top=0, mode="local", workers=2, **SWEEP)
    pd.testing.assert_frame_equal(one.runs, two.runs, check_exact=True)
    assert list(one.returns) == list(two.returns) == list(range(len(one.tasks)))
    for task_id in one.returns:
        pd.testing.assert_series_equal(one.returns[task_id], two.returns[task_id], check_exact=True)
        np.testing.assert_array_equal(one.trade_returns[task_id], two.trade_returns[task_id])
    a, b = analyse_sweep(one, n_blocks=4), analyse_sweep(two, n_blocks=4)
    assert a.dsr == b.dsr and a.pbo.pbo == b.pbo.pbo
    pd.testing.assert_series_equal(a.pbo_by_window, b.pbo_by_window)
    assert "runs in this process" not in caplog.text
    # one window: its tasks cut in two pieces, each process writing its rows of the window's file
    one = run_sweep("laguerre_cross", frames, GRID, fixed=FIXED, verify_top=0)
    two = run_sweep("laguerre_cross", frames, GRID, fixed=FIXED, verify_top=0, mode="local", workers=2)
    pd.testing.assert_frame_equal(one.runs, two.runs, check_exact=True)
    for task_id in one.returns:
        pd.testing.assert_series_equal(one.returns[task_id], two.returns[task_id], check_exact=True)
        np.testing.assert_array_equal(one.trade_returns[task_id], two.trade_returns[task_id])
    assert "runs in this process" not in caplog.text
