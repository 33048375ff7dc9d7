"""btedge.report: metrics table, buy-and-hold, quantstats tear sheet (offline) and PNG chart."""
from __future__ import annotations

import io
import re
import socket

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from btedge.analyzers import Performance, TradeStats
from btedge.feeds import FrameData
from btedge.report import (
    METRICS,
    benchmark_stats,
    buy_and_hold_returns,
    format_metrics,
    metrics_rows,
    metrics_table,
    plot_equity_drawdown,
    to_daily,
    write_tearsheet,
)
from tests.support.shared import require_shared

pytestmark = pytest.mark.shared


def five_minute_2006() -> pd.DataFrame:
    """backtrader's 5-minute index bars, January 2006 (21 days, 102 bars a day)."""
    df = pd.read_csv(require_shared("repos", "backtrader", "2006-min-005.txt"))
    index = pd.DatetimeIndex(pd.to_datetime(df.pop("Date") + " " + df.pop("Time")), name="datetime")
    return df.set_index(index)


class SmaCross(bt.Strategy):
    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=12), bt.ind.SMA(period=48))

    def next(self) -> None:
        if self.cross > 0:
            self.order_target_percent(target=0.9)
        elif self.cross < 0:
            self.order_target_percent(target=0.0)


@pytest.fixture(scope="module")
def run_5min():
    df = five_minute_2006()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=df, timeframe=bt.TimeFrame.Minutes, compression=5))
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.setcommission(commission=0.0002)
    cerebro.addstrategy(SmaCross)
    cerebro.addanalyzer(Performance, _name="perf")
    cerebro.addanalyzer(TradeStats, _name="trades")
    strat = cerebro.run()[0]
    perf, returns = strat.analyzers.perf.get_analysis(), strat.analyzers.perf.returns
    bench = buy_and_hold_returns(df, index=returns.index)
    return df, perf, strat.analyzers.trades.get_analysis(), bench, returns


# -- buy and hold ----------------------------------------------------------------------------
def test_buy_and_hold_returns_compound_to_the_price_ratio(run_5min):
    df, perf, _, bench, returns = run_5min
    assert bench.iloc[0] == 0.0
    assert bench.index.equals(returns.index)
    growth = float(np.prod(1.0 + bench.to_numpy()))
    assert growth == pytest.approx(df["Close"].iloc[-1] / df["Close"].iloc[0], rel=1e-12)
    assert bench.iloc[5] == pytest.approx(df["Close"].iloc[5] / df["Close"].iloc[4] - 1.0, rel=1e-12)


def test_buy_and_hold_accepts_series_and_arrays():
    index = pd.bdate_range("2021-01-01", periods=3)
    from_array = buy_and_hold_returns([100.0, 110.0, 99.0], index=index)
    from_series = buy_and_hold_returns(pd.Series([100.0, 110.0, 99.0], index=index))
    pd.testing.assert_series_equal(from_array, from_series, check_index_type=False)
    assert from_array.tolist() == pytest.approx([0.0, 0.1, -0.1])


@pytest.mark.parametrize(
    "data, index, match",
    [
        (pd.DataFrame({"open": [1.0, 2.0]}), None, "no 'close' column"),
        ([100.0, np.nan, 101.0], None, "row 1"),
        ([100.0, 0.0, 101.0], None, "row 1"),
        ([100.0, 101.0], pd.bdate_range("2021-01-01", periods=3), "index has 3 entries for 2 closes"),
    ],
)
def test_buy_and_hold_rejects_bad_input(data, index, match):
    with pytest.raises(ValueError, match=match):
        buy_and_hold_returns(data, index=index)


# -- tables ----------------------------------------------------------------------------------
def test_rows_table_and_text_contain_every_metric(run_5min):
    _, perf, trades, bench, _ = run_5min
    bench_perf = benchmark_stats(bench, perf["periods_per_year"])
    rows = metrics_rows(perf, trades, bench_perf)
    assert [row[0] for row in rows] == list(METRICS)
    by_name = {row[0]: row for row in rows}
    assert by_name["Total return"][1] == f"{perf['total_return'] * 100:.2f}%"
    assert by_name["Total return"][2] == f"{bench_perf['total_return'] * 100:.2f}%"
    assert by_name["Sharpe"][1] == f"{perf['sharpe']:.2f}"
    assert by_name["Trades (closed)"][1] == str(trades["trades"]) and trades["trades"] > 0
    assert by_name["Periods per year"][1] == f"{102 * 252:,}"

    from rich.console import Console

    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(metrics_table(perf, trades, bench_perf))
    rendered = console.file.getvalue()
    text = format_metrics(perf, trades, bench_perf)
    for name, strategy, buy_hold in rows:
        for output in (rendered, text):
            assert name in output and strategy in output and buy_hold in output
    assert text.splitlines()[0].startswith("| Metric")


def test_rows_without_benchmark_or_trades():
    returns = pd.Series([0.0, 0.01, -0.02, 0.015], index=pd.bdate_range("2021-01-04", periods=4))
    perf = benchmark_stats(returns, 252)
    rows = metrics_rows(perf)
    assert len(rows) == METRICS.index("Exposure") + 1
    assert all(row[2] == "-" for row in rows)
    flat = benchmark_stats(pd.Series(0.0, index=returns.index), 252)
    assert dict((r[0], r[1]) for r in metrics_rows(flat))["Sharpe"] == "n/a"


def test_trade_rows_show_inf_and_none():
    perf = benchmark_stats(pd.Series([0.0, 0.01, 0.02], index=pd.bdate_range("2021-01-04", periods=3)), 252)
    trades = {"profit_factor": float("inf"), "avg_loss": None, "trades": 2}
    rows = dict((r[0], r[1]) for r in metrics_rows(perf, trades))
    assert rows["Profit factor"] == "inf" and rows["Average loss"] == "n/a"


# -- tear sheet and chart --------------------------------------------------------------------
def _row(html: str, metric: str) -> tuple[str, str]:
    match = re.search(rf"<tr><td>{re.escape(metric)}</td><td>([^<]*)</td><td>([^<]*)</td></tr>", html)
    assert match, f"no {metric!r} row in the tear sheet"
    return match.group(1), match.group(2)


def _pct(cell: str) -> float:
    return float(cell.rstrip("%")) / 100.0


@pytest.mark.slow
def test_tearsheet_is_written_offline_with_strategy_and_benchmark_figures(run_5min, tmp_path):
    with pytest.raises(RuntimeError, match="network"):  # the suite's guard is on during this test
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    _, perf, _, bench, returns = run_5min
    path = write_tearsheet(returns, bench, tmp_path / "sheet.html", "SMA cross, 5-min 2006", table=perf)
    html = path.read_text(encoding="utf-8")
    assert "SMA cross, 5-min 2006 (daily returns compounded from intraday bars)" in html
    assert "<th>Buy &amp; hold</th><th>Strategy</th>" in html  # quantstats puts the benchmark first
    daily, daily_bench = to_daily(returns), to_daily(bench)
    assert len(daily) == 21
    bench_cell, strategy_cell = _row(html, "Cumulative Return")
    assert _pct(strategy_cell) == pytest.approx(perf["total_return"], abs=0.00006)
    assert _pct(bench_cell) == pytest.approx(float(np.prod(1.0 + daily_bench)) - 1.0, abs=0.00006)
    bench_dd, strategy_dd = _row(html, "Max Drawdown")
    assert -_pct(strategy_dd) == pytest.approx(benchmark_stats(daily, 252)["max_drawdown"], abs=0.00006)
    assert -_pct(bench_dd) == pytest.approx(benchmark_stats(daily_bench, 252)["max_drawdown"], abs=0.00006)
    # issue 9 item 14: the sheet says why its figures differ from the table's, with both sets
    start = html.find('id="btedge-note"')
    note = html[start:html.find("</div>", start)]
    assert f"btedge table (per bar): Sharpe {perf['sharpe']:.2f}, max drawdown {perf['max_drawdown'] * 100:.2f}%" in note
    assert f"This sheet (daily): Sharpe {benchmark_stats(daily, 252)['sharpe']:.2f}" in note
    assert "They differ when bars are intraday" in note and "5 min bars were compounded into 21 daily returns" in note


def test_tearsheet_rejects_a_benchmark_on_other_dates(run_5min, tmp_path):
    _, _, _, bench, returns = run_5min
    with pytest.raises(ValueError, match="benchmark has no return"):
        write_tearsheet(returns, bench.iloc[:500], tmp_path / "x.html", "x")


def test_equity_drawdown_png_is_a_valid_image(run_5min, tmp_path):
    _, _, _, bench, returns = run_5min
    path = plot_equity_drawdown(returns, bench, tmp_path / "equity.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (600, 1000)
    assert image[..., :3].std() > 0.05  # something was drawn


def test_to_daily_equals_backtrader_daily_time_returns(run_5min):
    df, _, _, _, returns = run_5min
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=df, timeframe=bt.TimeFrame.Minutes, compression=5))
    cerebro.broker.setcash(1_000_000.0)
    cerebro.broker.setcommission(commission=0.0002)
    cerebro.addstrategy(SmaCross)
    cerebro.addanalyzer(Performance, _name="perf", timeframe=bt.TimeFrame.Days)
    analyzer = cerebro.run()[0].analyzers.perf
    daily = to_daily(returns)
    assert analyzer.get_analysis()["periods_per_year"] == 252.0
    assert daily.index.equals(analyzer.returns.index.normalize())
    np.testing.assert_allclose(daily.to_numpy(), analyzer.returns.to_numpy(), rtol=1e-9, atol=1e-15)


# -- issue 9: runs without trades, strict JSON, span and benchmark, open drawdowns, one year ------
@pytest.fixture(scope="module")
def zero_trade_run():
    """LaguerreCross on BTC 1-minute bars with 10k cash and whole units: one BTC costs ~47k, so no
    entry can be sized and nothing trades."""
    from btedge.engine import BacktestConfig, run_backtest
    from btedge.feeds import load_csv
    from btedge.strategies import LaguerreCross

    df = load_csv(require_shared("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz")).iloc[:6000]
    return run_backtest(LaguerreCross, [("BTC-PERP", df)], {}, BacktestConfig(cash=10_000.0))


@pytest.mark.slow
def test_zero_trade_run_writes_table_tearsheet_and_png(zero_trade_run, tmp_path):
    result = zero_trade_run
    assert result.trades["trades"] == 0 and result.trades["skipped_entries"] >= 1
    text = format_metrics(result.metrics, result.trades, result.benchmark_metrics)
    assert "0 (no trades)" in text and "Buy & hold BTC-PERP (95% invested)" in text
    for label in ("First bar", "Last bar", "Bars", "Bar size", "Periods per year", "Entries skipped (size 0)"):
        assert label in text
    sheet = write_tearsheet(result.returns, result.benchmark_returns, tmp_path / "zero.html", "zero",
                            table=result.metrics, trades=result.trades)
    html = sheet.read_text(encoding="utf-8")
    assert "zero (no trades)" in html and "btedge-note" in html and "No trades" in html
    png = plot_equity_drawdown(result.returns, result.benchmark_returns, tmp_path / "zero.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_is_strict_with_nulls_for_undefined_figures(zero_trade_run):
    import json

    from btedge.report import to_json

    result = zero_trade_run
    text = to_json({"strategy": result.metrics, "trades": {**result.trades, "profit_factor": float("inf")},
                    "buy_and_hold": result.benchmark_metrics})
    assert "NaN" not in text and "Infinity" not in text
    payload = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    assert payload["strategy"]["sharpe"] is None and payload["trades"]["win_rate"] is None
    assert payload["trades"]["profit_factor"] is None
    assert payload["strategy"]["first_bar"] == "2021-12-31T23:01:00"
    assert payload["strategy"]["periods_per_year"] == 525_600
    assert payload["buy_and_hold"]["asset"] == "BTC-PERP" and payload["buy_and_hold"]["invested"] == 0.95


@pytest.mark.slow
def test_open_drawdown_from_the_first_day_fills_the_tearsheet(tmp_path):
    """S&P 500 from the day after its 2007 peak to the end of 2008: in drawdown from the first
    return and never recovered (quantstats' tables were blank for that)."""
    df = pd.read_csv(require_shared("pypi", "daily", "arch_sp500_ohlcv_1999-2018.csv.gz"), index_col=0)
    df.index = pd.to_datetime(df.index, format="%m/%d/%Y")
    returns = buy_and_hold_returns(df.loc["2007-10-09":"2008-12-31"]).iloc[1:]
    assert returns.iloc[0] < 0.0
    html = write_tearsheet(returns, None, tmp_path / "dd.html", "S&P 500 2007-08",
                           table=benchmark_stats(returns, 252)).read_text(encoding="utf-8")
    worst = html[html.find("Worst 10 Drawdowns"):]
    assert re.search(r"<tbody>\s*<tr><td>2007-10-1", worst), "the open drawdown is listed"
    strategy_dd = re.search(r"<tr><td>Max Drawdown</td><td>([^<]*)</td>", html).group(1)
    assert -_pct(strategy_dd) == pytest.approx(benchmark_stats(returns, 252)["max_drawdown"], abs=0.00006)
    assert "has not recovered by the last bar" in html


@pytest.mark.slow
def test_tearsheet_uses_the_tables_year_on_sessions_crossing_midnight(tmp_path):
    """Extended-hours SPY in UTC: 20 trading sessions (not 25 calendar dates) and 252 a year."""
    raw = pd.read_csv(require_shared("repos", "intraday", "pyalgotrade_nt-spy-minute-2011-01.csv"), sep=";",
                      header=None, names=["dt", "open", "high", "low", "close", "volume"])
    index = pd.DatetimeIndex(pd.to_datetime(raw.pop("dt"), format="%Y%m%d %H%M%S"))
    returns = buy_and_hold_returns(raw.set_index(index))
    assert len(to_daily(returns)) == 20
    html = write_tearsheet(returns, None, tmp_path / "spy.html", "SPY",
                           table=benchmark_stats(returns, 178_542)).read_text(encoding="utf-8")
    assert "Periods/Year: 252" in html and "252 sessions a year" in html


def test_a_run_of_one_session_gets_a_page_not_an_exception(tmp_path, caplog):
    df = pd.read_csv(require_shared("repos", "intraday", "skender_SPY_1min_2020-12-15_18.csv"), encoding="utf-8-sig")
    close = pd.Series(df["close"].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(df["date"])))
    returns = buy_and_hold_returns(close.loc["2020-12-15"])
    path = write_tearsheet(returns, returns, tmp_path / "short.html", "one day")
    assert "No tear sheet" in path.read_text(encoding="utf-8") and "at least 2" in caplog.text


def test_evaluation_figures_json_is_strict() -> None:
    """Issue 9 item 4 (strict JSON everywhere): btedge-evaluate --json wrote NaN literals
    (json.dumps(default=float)) for undefined figures, e.g. a Sharpe interval with no returns."""
    import json
    from types import SimpleNamespace

    from btedge.evaluation.bootstrap import Interval
    from btedge.evaluation.claims import ClaimRow
    from btedge.evaluation.cli import figures_json

    nan = float("nan")
    config = SimpleNamespace(name="ensemble", n_seeds=5, points=[np.float64(nan), 0.25], spread=nan,
                             intervals={"sharpe": Interval(nan, nan, np.inf, 0)})
    result = SimpleNamespace(ds=SimpleNamespace(key="spy1m"), bars=np.int64(14180), scored_bars=0, wall_s=1.5,
                             configs=[config], differences={"ensemble": {"sharpe": Interval(0.1, nan, 0.3, 200)}},
                             dsr=SimpleNamespace(dsr=np.float64(nan)), pbo=None)
    text = figures_json([result], [ClaimRow("c", "ran", "n/a", "not tested", "why")])

    def refuse(literal: str) -> None:
        raise AssertionError(f"non-strict JSON literal {literal}")

    figures = json.loads(text, parse_constant=refuse)
    row = figures["datasets"][0]
    assert row["dsr"] is None and row["bars"] == 14180
    assert row["configs"][0]["intervals"]["sharpe"] == {"value": None, "low": None, "high": None, "n": 0}
    assert row["configs"][0]["points"] == [None, 0.25] and row["differences"]["ensemble"]["sharpe"]["low"] is None
    assert figures["claims"][0]["verdict"] == "not tested"


@pytest.fixture(scope="module")
def btc_minute_returns() -> tuple[pd.Series, pd.Series]:
    """A month of real BTC-perp 1-minute returns (44,640 bars) and buy-and-hold of the same bars with
    one crash bar (-40%, recovered the next bar) placed off any run boundary: the deepest drawdown
    is that one bar, which a chart that drew every n-th point would miss."""
    from btedge.feeds import load_csv

    df = load_csv(require_shared("repos", "intraday", "nautilus_btc-perp_1m_20211231-20220201.csv.gz"))
    bench = buy_and_hold_returns(df)
    crash = np.zeros(len(bench))
    crash[31_337], crash[31_338] = -0.4, 1 / 0.6 - 1
    bench = ((1 + bench) * (1 + pd.Series(crash, index=bench.index)) - 1).rename("Buy & hold")
    strategy = (0.5 * bench.shift(1, fill_value=0.0)).rename("Strategy")
    return strategy, bench


def test_decimated_points_keep_every_runs_extremes(btc_minute_returns):
    from btedge.report import PLOT_COLUMNS, decimate_extremes

    _, bench = btc_minute_returns
    equity = np.cumprod(1 + bench.to_numpy())
    at = decimate_extremes(equity)
    assert len(bench) > 4 * PLOT_COLUMNS and len(at) <= 2 * PLOT_COLUMNS + 2
    assert at[0] == 0 and at[-1] == len(equity) - 1 and np.all(np.diff(at) > 0)
    assert equity[at].min() == equity.min() and equity[at].max() == equity.max()
    width = -(-len(equity) // PLOT_COLUMNS)
    for start in range(0, len(equity), width):
        chunk = equity[start:start + width]
        kept = equity[at[(at >= start) & (at < start + width)]]
        assert kept.min() == chunk.min() and kept.max() == chunk.max()  # every run's range is drawn
    short = np.arange(4 * PLOT_COLUMNS, dtype=float)
    assert np.array_equal(decimate_extremes(short), np.arange(len(short)))  # short series drawn whole


def test_png_draws_the_deepest_drawdown_and_the_highest_equity(btc_minute_returns, tmp_path):
    from btedge.metrics import drawdown_series
    from btedge.report import PLOT_COLUMNS, _equity_figure

    strategy, bench = btc_minute_returns
    fig = _equity_figure(strategy, bench, "decimated")
    top, bottom = fig.axes
    for line, fill, rets in zip(top.get_lines(), bottom.collections, (strategy, bench)):
        equity = np.cumprod(1 + rets.to_numpy())
        assert len(line.get_ydata()) <= 2 * PLOT_COLUMNS + 2  # decimated
        assert line.get_ydata().max() == equity.max() and line.get_ydata().min() == equity.min()
        drawn = fill.get_paths()[0].vertices[:, 1]
        assert drawn.min() == -drawdown_series(rets).max()  # the crash bar's depth, exactly
    path = plot_equity_drawdown(strategy, bench, tmp_path / "equity.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
