"""btedge-backtest end to end: demo, real shared data, and every bad-input path (exit 2, no traceback)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from btedge.run_backtest import main
from tests.support.shared import require_shared

ROOT = Path(__file__).resolve().parents[1]


def test_list_and_list_params(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("laguerre_cross", "laguerre_trend", "laguerre_channel", "buy_and_hold"):
        assert name in out
    assert main(["--list-params", "laguerre_cross"]) == 0
    assert "gamma_fast = 0.2" in capsys.readouterr().out


def test_root_shim_runs_the_entry_point():
    proc = subprocess.run([sys.executable, str(ROOT / "run_backtest.py"), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--strategy" in proc.stdout and "--commission" in proc.stdout


@pytest.mark.slow
def test_demo_writes_reports(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--demo"]) == 0
    out = capsys.readouterr().out
    assert "laguerre_cross on BTC-USD" in out and "Buy & hold" in out and "Sharpe" in out
    html, png = tmp_path / "reports" / "demo_tearsheet.html", tmp_path / "reports" / "demo_tearsheet.png"
    assert html.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_intraday_file_with_params_and_json(tmp_path, capsys):
    data = require_shared("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv")
    out_json = tmp_path / "m.json"
    code = main(["--strategy", "laguerre_trend", "--data", str(data), "--param", "gamma=0.6",
                 "--param", "direction=both", "--commission", "0.0002", "--slippage", "0.0001",
                 "--json", str(out_json), "--plot", str(tmp_path / "eq.png")])
    assert code == 0, capsys.readouterr().err
    payload = json.loads(out_json.read_text())
    assert payload["trades"]["trades"] > 5
    assert payload["strategy"]["periods_per_year"] > 50_000  # inferred as one-minute bars
    assert payload["buy_and_hold"]["exposure"] > 0.99
    assert (tmp_path / "eq.png").exists()


def test_multi_file_backtest_aligns_feeds(capsys):
    ko = require_shared("repos", "daily", "backtrader_KO_1997-1998.csv")
    assert main(["--strategy", "laguerre_cross", "--data", str(ko), "--from", "1997-03-01",
                 "--to", "1998-06-30"]) == 0
    assert "laguerre_cross on backtrader_KO_1997-1998" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "no/such/file.csv"], "no such file"),
        (["--strategy", "nope", "--demo"], "unknown strategy 'nope'; available:"),
        (["--param", "gamm=0.1", "--demo"], "unknown param 'gamm' for LaguerreCross; valid:"),
        (["--param", "gamma_fast=fast", "--demo"], "param gamma_fast: expected float"),
        (["--train-bars", "500", "--demo"], "is not trained"),
        (["--commission", "5", "--demo"], "commission is a fraction"),
        (["--benchmark", "SPY", "--demo"], "benchmark 'SPY' is not among the datas: BTC-USD"),
        (["--data", "SPY"], "a Yahoo ticker needs --from"),
        ([], "give --data"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_csv_names_file_and_row(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("datetime,open,high,low,close,volume\n"
                   "2024-01-02 09:30,10,11,9,10.5,100\n"
                   "2024-01-02 09:31,10.5,11,10,-1,100\n")
    assert main(["--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and "2024-01-02 09:31" in err


def test_offline_ticker_without_cache_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BTEDGE_CACHE", str(tmp_path))
    assert main(["--data", "SPY", "--from", "2020-01-01", "--to", "2020-02-01", "--offline"]) == 2
    err = capsys.readouterr().err
    assert "SPY" in err and str(tmp_path) in err


def test_pairs_from_two_symbols_of_a_long_file(capsys):
    """--symbol A,B on a long file (S&P 500 members, one symbol column) gives the two aligned datas."""
    data = require_shared("pypi", "daily", "bytetheory_sp500_members_ohlcv_2009-2010.csv.gz")
    assert main(["--strategy", "pairs", "--data", str(data), "--symbol", "KO,PEP"]) == 0
    assert "pairs on KO, PEP" in capsys.readouterr().out
    assert main(["--strategy", "pairs", "--data", str(data), "--symbol", "KO"]) == 2
    assert "needs at least 2 datas, got 1" in capsys.readouterr().err


def test_adj_close_splits_are_warned_and_adjust_removes_them(tmp_path, capsys):
    """Issue 9 (Adj Close was silently dropped): bokeh's AAPL closes are not split-adjusted (2-for-1
    on 2000-06-21, a -50% 'return'); the run says so at WARNING with the flag, and --adjust trades
    the file's own Adj Close (checked against the file read by pandas)."""
    import pandas as pd

    from btedge.feeds import LoadOptions, resolve_datas

    path = require_shared("pypi", "daily", "bokeh_AAPL_GOOG_IBM_MSFT_ohlcv_2000-2013.csv.gz")
    window = ["--symbol", "AAPL", "--from", "2000-03-01", "--to", "2000-12-31"]
    runs = {}
    for flags in ([], ["--adjust"]):
        out_json = tmp_path / f"run{len(flags)}.json"
        assert main(["--data", str(path), *window, *flags, "--json", str(out_json)]) == 0
        runs[bool(flags)] = (json.loads(out_json.read_text()), capsys.readouterr().err)
    (raw_run, raw_err), (adj_run, adj_err) = runs[False], runs[True]
    assert "close is not adjusted for 2 split(s) that column 'Adj Close' (adjusted close) removes: " \
           "2000-06-21 (2.00 for 1), 2005-02-28 (2.00 for 1)" in raw_err and "Fix: pass --adjust" in raw_err
    assert "split" not in adj_err
    assert adj_run["buy_and_hold"]["total_return"] > raw_run["buy_and_hold"]["total_return"] + 0.08  # -71% vs -82%

    [(_, adjusted)] = resolve_datas([str(path)], LoadOptions(symbol="AAPL", adjust=True, fromdate="2000-03-01",
                                                             todate="2000-12-31"))
    table = pd.read_csv(path)
    table = table[table["Ticker"] == "AAPL"].set_index(pd.to_datetime(table.loc[table["Ticker"] == "AAPL", "Date"]))
    assert adjusted["close"].to_numpy() == pytest.approx(table.loc[adjusted.index, "Adj Close"].to_numpy())
    assert table.loc["2000-06-21", "Close"].item() / table.loc["2000-06-20", "Close"].item() < 0.55
    assert abs(adjusted["close"].pct_change().loc["2000-06-21"]) < 0.1  # the split is gone


def test_zero_trade_run_with_report_and_json_from_the_cli(tmp_path, capsys):
    """Issue 9 item 4: a run without trades (10k cash, whole units, one BTC ~47k) with --report and
    --json used to crash after the table ('Cannot calculate a linear regression') and write NaN
    literals; now every output is written and says 'no trades', and the JSON is strict."""
    data = require_shared("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz")
    report, out_json = tmp_path / "zero.html", tmp_path / "zero.json"
    code = main(["--data", str(data), "--from", "2022-01-01", "--to", "2022-01-03", "--cash", "10000",
                 "--report", str(report), "--json", str(out_json)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "no trades" in captured.out and "Traceback" not in captured.err
    assert "no trades" in report.read_text(encoding="utf-8")
    assert report.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def refuse(literal: str) -> None:
        raise AssertionError(f"non-strict JSON literal {literal}")

    payload = json.loads(out_json.read_text(), parse_constant=refuse)
    assert payload["trades"]["trades"] == 0 and payload["trades"]["skipped_entries"] >= 1
    assert payload["strategy"]["sharpe"] is None and 4000 < payload["strategy"]["bars"] <= 3 * 1440
    assert payload["strategy"]["periods_per_year"] == 525_600  # a weekend in the span: 24/7
    assert payload["buy_and_hold"]["asset"] == "nautilus_btc-perp_1m_20211231-20220201"


def test_outputs_equal_those_of_a_run_whose_engine_is_alive(tmp_path, capsys):
    """The CLI writes the JSON and run files, then frees cerebro before the tear sheet and the PNG:
    every file equals what the engine's own result (strategy alive) writes, byte for byte."""
    from btedge.dashboard.runs import write_run_files
    from btedge.engine import BacktestConfig, run_backtest
    from btedge.feeds import load_csv
    from btedge.report import to_json
    from btedge.strategies import LaguerreCross

    data = require_shared("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv")
    cli = tmp_path / "cli"
    assert main(["--strategy", "laguerre_cross", "--data", str(data), "--param", "integer=False",
                 "--json", str(cli / "run.json"), "--report", str(cli / "run.html")]) == 0
    result = run_backtest(LaguerreCross, [(data.stem, load_csv(data))], {"integer": False}, BacktestConfig())
    assert result.trades["trades"] > 5
    written = pd.read_csv(cli / "run.returns.csv", index_col="time", parse_dates=["time"])
    bars = load_csv(data)
    assert np.array_equal(written.index, bars.index) and np.array_equal(written["close"], bars["close"])
    direct = tmp_path / "direct" / "run.json"
    direct.parent.mkdir()
    direct.write_text(to_json({"strategy": result.metrics, "trades": result.trades,
                               "buy_and_hold": result.benchmark_metrics}))
    write_run_files(result, direct)
    for name in ("run.json", "run.returns.csv", "run.trades.csv"):
        assert (cli / name).read_bytes() == (direct.parent / name).read_bytes(), name
    assert (cli / "run.html").stat().st_size > 10_000 and (cli / "run.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "tear sheet:" in out and "run file:" in out


def test_the_engine_is_freed_before_the_charts(tmp_path, monkeypatch, capsys):
    """cerebro (lines, orders: half a GB at a million bars) is gone by the time the PNG is drawn."""
    import weakref

    import btedge.report
    import btedge.run_backtest as cli

    seen: dict = {}
    engine_run, draw = cli.run_backtest, btedge.report.plot_equity_drawdown

    def run(*args, **kwargs):
        result = engine_run(*args, **kwargs)
        seen["strategy"] = weakref.ref(result.strategy)
        return result

    def plot(*args, **kwargs):
        seen["alive"] = seen["strategy"]() is not None
        return draw(*args, **kwargs)

    monkeypatch.setattr(cli, "run_backtest", run)
    monkeypatch.setattr(btedge.report, "plot_equity_drawdown", plot)
    data = require_shared("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv")
    assert main(["--strategy", "laguerre_cross", "--data", str(data), "--json", str(tmp_path / "r.json"),
                 "--plot", str(tmp_path / "r.png")]) == 0
    assert seen["alive"] is False and (tmp_path / "r.trades.csv").stat().st_size > 0
    assert "equity/drawdown plot:" in capsys.readouterr().out
