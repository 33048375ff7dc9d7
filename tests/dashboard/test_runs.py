"""btedge-backtest --json writes the returns and trades the backtest page reads."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btedge.dashboard.runs import equity_curves, list_runs, load_run, write_returns_csv
from btedge.feeds import sample_data
from btedge.run_backtest import main


@pytest.fixture
def run_folder(tmp_path):
    data = tmp_path / "btc.csv"
    sample_data().iloc[:800].to_csv(data)
    out = tmp_path / "runs"
    assert main(["--strategy", "laguerre_cross", "--data", str(data), "--commission", "0.0005",
                 "--json", str(out / "lc.json")]) == 0
    (out / "lc.html").write_text("<html></html>")  # a tear sheet of the same stem is linked
    return out


def test_run_files_agree_with_the_metrics(capsys, run_folder):
    assert "run file:" in capsys.readouterr().out
    assert [p.name for p in list_runs(run_folder)] == ["lc.json"]
    run = load_run(run_folder / "lc.json")
    curves = equity_curves(run.returns)
    assert curves["strategy"].iloc[-1] - 1 == pytest.approx(run.metrics["strategy"]["total_return"], rel=1e-9)
    assert curves["buy_and_hold"].iloc[-1] - 1 == pytest.approx(run.metrics["buy_and_hold"]["total_return"], rel=1e-9)
    assert (curves["strategy_drawdown"].min() == pytest.approx(-run.metrics["strategy"]["max_drawdown"], rel=1e-9)
            or curves["strategy_drawdown"].min() == pytest.approx(run.metrics["strategy"]["max_drawdown"], rel=1e-9))
    closed = run.metrics["trades"]["trades"]
    assert closed >= 1 and (run.trades["symbol"] == "btc").all()
    assert 2 * closed <= len(run.trades) <= 2 * closed + 1, "each closed trade is an entry and an exit fill"
    assert run.returns["close"].iloc[-1] == pytest.approx(sample_data()["close"].iloc[799])
    assert run.tearsheet == run_folder / "lc.html"


def test_folder_without_runs(tmp_path):
    assert list_runs(tmp_path) == [] and list_runs(tmp_path / "missing") == []


def test_vector_engine_writes_the_same_run_files(tmp_path):
    """``--engine vector`` gives the backtest page the same returns, closes and fills as backtrader."""
    data = tmp_path / "btc.csv"
    sample_data().iloc[:800].to_csv(data)
    runs = {}
    for engine in ("backtrader", "vector"):
        path = tmp_path / engine / "lc.json"
        assert main(["--strategy", "laguerre_cross", "--data", str(data), "--param", "stop_loss=0.01",
                     "--engine", engine, "--json", str(path)]) == 0
        runs[engine] = load_run(path)
    bt_run, vec_run = runs["backtrader"], runs["vector"]
    assert len(bt_run.trades) >= 10
    pd.testing.assert_frame_equal(vec_run.trades, bt_run.trades, rtol=1e-12)
    pd.testing.assert_frame_equal(vec_run.returns, bt_run.returns, rtol=1e-12)
    assert vec_run.returns["close"].notna().all()


@pytest.mark.parametrize("tz", [None, "UTC"])
@pytest.mark.parametrize("chunk", [4, 1 << 16])
def test_returns_csv_reads_back_as_pandas_writes_it(tmp_path, monkeypatch, tz, chunk):
    """The Arrow writer's file reads back to the very floats and stamps of pandas' ``to_csv``,
    whole or written a few rows at a time."""
    monkeypatch.setattr("btedge.dashboard.runs._CSV_CHUNK", chunk)
    values = [1e-05, 1e16, -0.0, np.nan, np.inf, -np.inf, 0.1, 5e-324, 1.7976931348623157e308, 2.5e-07,
              1e15, 123.0, -3.25e-300]
    close = sample_data()["close"].iloc[:len(values)]
    index = close.index.tz_localize(tz) if tz else close.index
    frame = pd.DataFrame({"strategy": values, "close": close.to_numpy()}, index=pd.DatetimeIndex(index, name="time"))
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    write_returns_csv(frame, ours)
    frame.to_csv(theirs)
    read = [pd.read_csv(p, index_col="time", parse_dates=["time"]) for p in (ours, theirs)]
    pd.testing.assert_frame_equal(read[0], read[1], check_exact=True)
    assert np.signbit(read[0]["strategy"].iloc[2]), "-0.0 keeps its sign"
    assert ours.read_text().splitlines()[0] == theirs.read_text().splitlines()[0] == "time,strategy,close"
