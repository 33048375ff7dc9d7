"""The sweep's batched figures (numpy over (backtests × periods) arrays, no pandas per backtest)
equal btedge.metrics' per-series figures to 1e-12, on real files from ../shared."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from btedge.engine import BacktestConfig
from btedge.metrics import performance_arrays, performance_stats
from btedge.metrics.performance import ARRAY_FIGURES
from btedge.strategies import LaguerreCross
from btedge.sweeps.analysis import window_matrix, window_returns
from btedge.sweeps.grid import slice_frames
from btedge.sweeps.runner import run_sweep
from btedge.sweeps.stats import deflated_sharpe_for_grid, pbo_cscv, sharpe_ratio
from btedge.vector.engine import run_vector
from tests.vector.files import DAILY, INTRADAY, file_id, load

pytestmark = pytest.mark.shared

#: Daily and intraday files of different markets (a subset of the equality tests' list: lean).
FILES = [DAILY[0], DAILY[5], DAILY[10], INTRADAY[0], INTRADAY[4], INTRADAY[6], INTRADAY[9]]
RTOL = 1e-12
PERF = ["total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar"]


def _close_returns(length: int, seed: int) -> list[pd.Series]:
    rng = np.random.default_rng(seed)
    rows = []
    for path, options in FILES:
        close = load(path, options)["close"]
        start = int(rng.integers(0, len(close) - length - 1))
        rows.append(close.iloc[start:start + length + 1].pct_change().iloc[1:])
    return rows


def _assert_close(got: float, want: float, what: str) -> None:
    if math.isnan(want) or math.isinf(want):
        assert (math.isnan(got) and math.isnan(want)) or got == want, (what, got, want)
    else:
        assert got == pytest.approx(want, rel=RTOL, abs=1e-15), (what, got, want)


@pytest.mark.parametrize("riskfree,ppy", [(0.0, 252.0), (0.04, 8760.0)])
def test_performance_arrays_equal_performance_stats_on_real_returns(riskfree, ppy):
    series = _close_returns(200, seed=13)
    series[2] = series[2].copy()
    series[2].iloc[[0, 17, 150]] = np.nan  # skipped by both
    figures = performance_arrays(np.vstack([s.to_numpy() for s in series]), ppy, riskfree)
    assert set(figures) == set(ARRAY_FIGURES)
    for row, s in enumerate(series):
        want = performance_stats(s, ppy, riskfree)
        for key in ARRAY_FIGURES:
            _assert_close(float(figures[key][row]), float(want[key]), f"{file_id(FILES[row])} {key}")
    assert figures["periods"][2] == 197 and figures["periods"][0] == 200


def test_performance_arrays_edge_rows():
    flat = np.zeros((2, 5))
    figures = performance_arrays(flat, 252.0)
    assert np.all(figures["total_return"] == 0.0) and np.all(np.isnan(figures["sharpe"]))
    assert np.all(figures["max_drawdown"] == 0.0) and np.all(np.isnan(figures["calmar"]))
    empty = performance_arrays(np.zeros((3, 0)), 252.0)
    assert np.all(empty["periods"] == 0) and np.all(np.isnan(empty["cagr"]))
    with pytest.raises(ValueError, match="2-D"):
        performance_arrays(np.zeros(5), 252.0)
    with pytest.raises(ValueError, match="periods_per_year"):
        performance_arrays(flat, 0.0)


@pytest.fixture(scope="module", params=[DAILY[0], INTRADAY[0], INTRADAY[6]], ids=file_id)
def swept(request):
    path, options = request.param
    frames = [("X", load(path, options, 0, 1500))]
    grid = {"gamma_fast": [0.15, 0.4], "gamma_slow": [0.7, 0.85], "stop_loss": [0.0, 0.01]}
    fixed = {"direction": "both", "integer": False, "take_profit": 0.02}
    config = BacktestConfig(benchmark=False, commission=0.0005, slippage=0.0001)
    result = run_sweep(LaguerreCross, frames, grid, fixed=fixed, lookbacks=(None, 400), n_offsets=1, seed=5,
                       config=config, verify_top=0)
    return frames, config, result


def test_sweep_figures_equal_run_vector_figures(swept):
    """Every backtest's row of the sweep equals run_vector's Performance and TradeStats figures
    (btedge.metrics per series) and its return series."""
    frames, config, result = swept
    assert result.runs["n_trades"].min() > 0
    for task in result.tasks:
        run = run_vector(LaguerreCross, slice_frames(frames, task.window), task.param_dict, config)
        row = result.runs.loc[task.task_id]
        for key in [*PERF, "exposure", "periods_per_year"]:
            _assert_close(float(row[key]), float(run.metrics[key]), f"task {task.task_id} {key}")
        assert row["n_trades"] == run.trade_stats["trades"] and row["bars"] == run.metrics["bars"]
        for key in ("win_rate", "profit_factor"):
            want = run.trade_stats[key]
            _assert_close(float(row[key]), math.nan if want is None else float(want), f"task {task.task_id} {key}")
        pd.testing.assert_series_equal(result.returns[task.task_id], run.returns.rename(task.task_id),
                                       check_exact=True)


def test_dsr_and_pbo_read_the_sweep_arrays_as_the_frames(swept):
    """DSR and PBO from the sweep's (backtests × periods) arrays equal those from the T×N frame
    built per column (the old path), and the vectorised Sharpe equals sharpe_ratio per column."""
    _, _, result = swept
    for window_id in sorted(result.runs["window_id"].unique()):
        frame = window_returns(result, int(window_id))
        matrix = window_matrix(result, int(window_id))
        np.testing.assert_array_equal(matrix, frame.to_numpy())
        old_style = pd.DataFrame({c: result.returns[t] for c, t in zip(
            frame.columns, result.runs.index[result.runs["window_id"] == window_id])}).to_numpy()
        np.testing.assert_array_equal(matrix, old_style)
        dsr = deflated_sharpe_for_grid(matrix)
        per_column = np.array([sharpe_ratio(old_style[:, j]) for j in range(old_style.shape[1])])
        assert dsr.sr == np.nanmax(per_column)
        assert dsr.sr_variance == pytest.approx(float(per_column[np.isfinite(per_column)].var(ddof=1)), rel=RTOL)
        assert deflated_sharpe_for_grid(old_style) == dsr
        want, got = pbo_cscv(old_style, 8), pbo_cscv(matrix, 8)
        assert got.pbo == want.pbo
        np.testing.assert_allclose(got.logits, want.logits, rtol=RTOL, atol=1e-12)


def test_pbo_in_chunks_of_halvings_equals_all_at_once(swept, monkeypatch):
    from btedge.sweeps import stats

    matrix = window_matrix(swept[2], 0)
    monkeypatch.setattr(stats, "CSCV_CHUNK_CELLS", 10**9)
    whole = pbo_cscv(matrix, 10)
    monkeypatch.setattr(stats, "CSCV_CHUNK_CELLS", 50)  # 6 halvings of 252 at a time
    chunked = pbo_cscv(matrix, 10)
    np.testing.assert_array_equal(chunked.logits, whole.logits)
    assert chunked.pbo == whole.pbo and whole.n_combinations == 252
