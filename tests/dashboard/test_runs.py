"""btedge-backtest --json writes the returns and trades the backtest page reads."""
from __future__ import annotations

import pytest

from btedge.dashboard.runs import equity_curves, list_runs, load_run
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
