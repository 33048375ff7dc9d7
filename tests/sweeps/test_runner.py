"""Sweep runner: grid and windows, serial == local processes == two-worker Dask, determinism, reports."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from btedge.feeds import sample_data
from btedge.sweeps.analysis import analyse_sweep, window_returns
from btedge.sweeps.cli import main as sweep_main
from btedge.sweeps.grid import expand_grid, make_tasks, make_windows, parse_values
from btedge.sweeps.report import write_report
from btedge.sweeps.runner import SweepResult, run_sweep

GRID = {"gamma_fast": [0.1, 0.3], "gamma_slow": [0.6, 0.8]}
SWEEP = dict(lookbacks=(None, 300), n_offsets=1, seed=7)


@pytest.fixture(scope="module")
def frames() -> list[tuple[str, pd.DataFrame]]:
    return [("BTC", sample_data().iloc[:600])]


@pytest.fixture(scope="module")
def serial(frames) -> SweepResult:  # type: ignore[no-untyped-def]
    return run_sweep("laguerre_cross", frames, GRID, **SWEEP)


def assert_same(a: SweepResult, b: SweepResult) -> None:
    pd.testing.assert_frame_equal(a.runs, b.runs, check_exact=True)
    assert a.returns.keys() == b.returns.keys()
    for task_id in a.returns:
        pd.testing.assert_series_equal(a.returns[task_id], b.returns[task_id], check_exact=True)
        np.testing.assert_array_equal(a.trade_returns[task_id], b.trade_returns[task_id])


def test_grid_and_windows_are_seeded() -> None:
    assert expand_grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    first = make_windows(1000, (None, 400), n_offsets=3, seed=1)
    assert first == make_windows(1000, (None, 400), n_offsets=3, seed=1)
    assert first != make_windows(1000, (None, 400), n_offsets=3, seed=2)
    assert [w.offset for w in first[:1]] == [0] and len(first) == 8
    assert all(w.stop == 1000 for w in first[:4]) and all(w.stop - w.start == 400 for w in first[4:])
    assert all(0 < w.start <= 250 for w in first[1:4])
    tasks = make_tasks(expand_grid({"a": [1, 2, 3]}), first)
    assert len(tasks) == 24 and [t.param_id for t in tasks[:4]] == [0, 1, 2, 0]
    assert parse_values("0.1:0.4:0.1") == ["0.1", "0.2", "0.3", "0.4"]
    assert parse_values("10:30:10") == ["10", "20", "30"] and parse_values("a, b") == ["a", "b"]


def test_grid_validation() -> None:
    with pytest.raises(ValueError, match="lookback 5000"):
        make_windows(1000, (5000,))
    with pytest.raises(ValueError, match="non-empty list"):
        expand_grid({"a": []})
    with pytest.raises(ValueError, match="unknown param"):
        run_sweep("laguerre_cross", [("X", sample_data().iloc[:200])], {"gama": [0.1]})
    with pytest.raises(ValueError, match="mode must be"):
        run_sweep("laguerre_cross", [("X", sample_data().iloc[:200])], {"gamma_fast": [0.1]}, mode="gpu")


def test_serial_sweep_shape_and_metrics(serial: SweepResult) -> None:
    runs = serial.runs
    assert len(runs) == 4 * 4 and serial.n_configs == 4
    assert runs["window_id"].nunique() == 4
    assert runs[["sharpe", "max_drawdown", "turnover", "n_trades"]].notna().all().all()
    assert (runs["turnover"] > 0).all()
    # the trade log sees exactly the closed trades TradeStats counts
    for task_id, trades in serial.trade_returns.items():
        assert len(trades) == runs.at[task_id, "n_trades"]
    assert window_returns(serial, 0).shape == (600, 4)


def test_same_seed_same_sweep_and_seed_moves_offsets(frames, serial) -> None:  # type: ignore[no-untyped-def]
    assert_same(serial, run_sweep("laguerre_cross", frames, GRID, **SWEEP))
    other = run_sweep("laguerre_cross", frames, {"gamma_fast": [0.1]}, lookbacks=(None, 300), n_offsets=1, seed=8)
    assert list(other.runs["offset"]) != list(serial.runs.loc[serial.runs["param_id"] == 0, "offset"])


@pytest.mark.slow
def test_local_processes_equal_serial(frames, serial) -> None:  # type: ignore[no-untyped-def]
    assert_same(serial, run_sweep("laguerre_cross", frames, GRID, mode="local", workers=2, **SWEEP))


@pytest.mark.slow
def test_two_worker_dask_cluster_equals_serial(frames, serial) -> None:  # type: ignore[no-untyped-def]
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        by_client = run_sweep("laguerre_cross", frames, GRID, mode="dask", address=client, **SWEEP)
        by_address = run_sweep("laguerre_cross", frames, {"gamma_fast": [0.1, 0.3], "gamma_slow": [0.6]},
                               mode="dask", address=cluster.scheduler_address, seed=7)
        assert len(client.scheduler_info()["workers"]) == 2
    assert_same(serial, by_client)
    pd.testing.assert_frame_equal(
        by_address.runs.drop(columns="param_id").reset_index(drop=True),
        serial.runs[(serial.runs["window_id"] == 0) & (serial.runs["gamma_slow"] == 0.6)]
        .drop(columns="param_id").reset_index(drop=True),
    )


def test_analysis_and_report(serial: SweepResult, tmp_path) -> None:  # type: ignore[no-untyped-def]
    analysis = analyse_sweep(serial, n_blocks=8, n_boot=300)
    ranking = analysis.ranking
    assert len(ranking) == 4 and ranking["rank_mean"].is_monotonic_increasing
    assert analysis.best_params == dict(ranking.iloc[0][["gamma_fast", "gamma_slow"]])
    assert analysis.dsr is not None and analysis.dsr.n_trials == 4 and 0 <= analysis.dsr.dsr <= 1
    assert analysis.pbo is not None and analysis.pbo.n_combinations == math.comb(8, 4)
    assert 0 <= analysis.pbo.pbo <= 1 and len(analysis.pbo_by_window) == 4
    assert analysis.bootstrap.n_trades == len(serial.trade_returns[int(
        serial.runs.index[(serial.runs["window_id"] == 0) & (serial.runs["param_id"] == ranking.index[0])][0])])
    paths = write_report(serial, analysis, tmp_path)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["runs_parquet"]), serial.runs)
    assert paths["heatmap"].read_bytes()[:4] == b"\x89PNG"
    text = paths["markdown"].read_text()
    assert "deflated Sharpe ratio" in text and "probability of backtest overfitting" in text
    assert "configurations tried (N): **4**" in text
    assert "<table" in paths["html"].read_text()


def test_cli(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = sweep_main(["--strategy", "laguerre_trend", "--sample", "--bars", "400", "--grid", "gamma=0.5:0.8:0.1",
                       "--mode", "serial", "--blocks", "8", "--bootstrap", "100", "--out", str(tmp_path),
                       "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "configurations tried (N): 4 parameter sets" in out
    assert "buy-and-hold of the same data: Sharpe" in out
    assert (tmp_path / "summary.html").exists() and (tmp_path / "runs.csv").exists()
    bench = pd.read_csv(tmp_path / "buy_and_hold.csv", index_col=0)
    assert list(bench.index) == [0] and bench.at[0, "n_trades"] == 0 and bench.at[0, "exposure"] > 0.9
    assert sweep_main(["--strategy", "laguerre_trend", "--sample", "--grid", "gama=1,2"]) == 2
    assert "unknown param 'gama'" in capsys.readouterr().err
    assert sweep_main(["--strategy", "laguerre_trend", "--grid", "gamma=0.5"]) == 2
    with pytest.raises(SystemExit) as exc:
        sweep_main(["--help"])
    assert exc.value.code == 0


def test_grid_that_never_trades_reports_instead_of_crashing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    flat = run_sweep("laguerre_trend", [("BTC", sample_data().iloc[:200])], {"gamma": [0.5, 0.8]},
                     fixed={"band": 0.49}, progress=True)
    assert (flat.runs["n_trades"] == 0).all()
    analysis = analyse_sweep(flat, n_blocks=4, n_boot=50)
    assert analysis.dsr is None and analysis.bootstrap.n_trades == 0
    text = write_report(flat, analysis, tmp_path)["markdown"].read_text()
    assert "deflated Sharpe ratio: not computed" in text


def test_bad_grid_value_names_the_task() -> None:
    with pytest.raises(ValueError, match=r"sweep task 1 \(params \{'gamma': 0.8, 'band': 0.7\}.*band must be"):
        run_sweep("laguerre_trend", [("BTC", sample_data().iloc[:100])], {"gamma": [0.8], "band": [0.1, 0.7]})
