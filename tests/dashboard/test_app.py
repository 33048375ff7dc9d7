"""The pages' logic through Streamlit's AppTest (no browser)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from btedge.dashboard.cli import APP
from btedge.dashboard.news import NewsCache, parse_feed
from btedge.feeds import sample_data
from tests.support.shared import require_shared

FIXTURES = Path(__file__).with_name("fixtures")


@pytest.fixture
def app(monkeypatch, tmp_path):
    monkeypatch.setenv("BTEDGE_DASHBOARD_NEWS_DIR", str(tmp_path / "news"))
    monkeypatch.setenv("BTEDGE_DASHBOARD_NEWS_URL", "http://127.0.0.1:9/feed?s={symbol}")
    monkeypatch.setenv("BTEDGE_DASHBOARD_NEWS_EVERY", "3600")

    def make(**settings: str) -> AppTest:
        for key, value in settings.items():
            monkeypatch.setenv(f"BTEDGE_DASHBOARD_{key.upper()}", value)
        return AppTest.from_file(str(APP), default_timeout=60)

    return make


def _text(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.info] + [e.value for e in at.caption]
    parts += [e.value for e in at.warning] + [f"{m.label}={m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def test_live_page_waits_for_a_missing_journal(app, tmp_path):
    at = app(journal=str(tmp_path / "late.DU1.sqlite"))
    at.run()
    assert not at.exception
    assert "waiting for the journal" in _text(at) and "to appear" in _text(at)


def test_live_page_shows_the_journal(app, live_files, tmp_path):
    for i in range(80):
        live_files.bar(i, written=1_000.0 + i)
    live_files.fill(1, 5, 2500.0)
    live_files.journal.set_risk("halt", "kill switch STOP")
    cache = NewsCache(tmp_path / "news")
    cache.path.parent.mkdir(parents=True)
    cache.path.write_text('{"items": %s, "fetched": 1.0, "offline": "SPY: refused"}' % __import__("json").dumps(
        parse_feed((FIXTURES / "spy_rss.xml").read_bytes(), "SPY", seen=1.0)))
    at = app(journal=str(live_files.path))
    at.run()
    assert not at.exception
    text = _text(at)
    assert "connection=CONNECTED" in text and "risk=halted" in text and "kill switch=HALTED: kill switch STOP" in text
    assert "last bar SPY 2017-07-04 18:00:00" in text and "fills 1" in text
    assert "P&L marked to market" in text
    assert "offline: showing cached headlines" in text and "record inflows" in text
    assert len(at.get("vega_lite_chart")) >= 3, "candles, anomaly, P&L"
    positions = at.dataframe[0].value
    assert positions["size"].tolist() == [5.0]


def test_backtest_page_picks_a_run(app, tmp_path):
    from btedge.run_backtest import main

    data = tmp_path / "btc.csv"
    sample_data().iloc[:400].to_csv(data)
    assert main(["--strategy", "laguerre_cross", "--data", str(data), "--json", str(tmp_path / "runs" / "a.json")]) == 0
    at = app(runs=str(tmp_path / "runs"))
    at.run()
    at.sidebar.radio[0].set_value("Backtest").run()
    assert not at.exception
    assert at.selectbox[0].options == ["a"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["strategy", "buy_and_hold"] and "total_return" in table.index
    assert len(at.get("vega_lite_chart")) == 3, "equity, drawdown, trades on the chart"


def test_backtest_page_without_runs_says_how(app):
    at = app()
    at.run()
    at.sidebar.radio[0].set_value("Backtest").run()
    assert "btedge-backtest --json" in _text(at)


@pytest.mark.slow
def test_screener_page_scans_a_real_panel(app, tmp_path):
    panel = require_shared() / "pypi" / "daily" / "skfolio_sp500_20stocks_1990-2022.csv.gz"
    at = app(panel=str(panel))
    at.run()
    at.sidebar.radio[0].set_value("Screener").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) == 20 and {"ann_vol", "score", "threshold", "outlier", "cluster"} <= set(table.columns)
    assert table["cluster"].nunique() == 4


def test_live_page_lists_the_copilot_advice(app, live_files, tmp_path):
    from btedge.copilot.journal import AdviceJournal

    live_files.bar(0)
    journal = AdviceJournal(tmp_path / "advice.jsonl")
    journal.write({"kind": "advice", "symbol": "SPY", "bar_time": "2017-07-01T11:00:00+00:00",
                   "advice": {"stance": "flat", "confidence": 0.6, "rationale": "chop"}, "error": None})
    journal.write({"kind": "decision", "symbol": "SPY", "bar_time": "2017-07-01T12:00:00+00:00", "side": "long",
                   "allowed": False, "reason": "advisor says flat, strategy wants long: veto"})
    journal.close()
    with open(tmp_path / "advice.jsonl", "a") as torn:
        torn.write('{"kind": "adv')  # a writer mid-append
    at = app(journal=str(live_files.path), advice=str(tmp_path / "advice.jsonl"))
    at.run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert table["kind"].tolist() == ["decision", "advice"] and table["why"].iloc[0].endswith("veto")


def test_many_symbols_chart_the_held_ones_first(app, live_files):
    for i in range(30):
        live_files.bar(i, written=1_000.0 + i)
        row = live_files.bars.iloc[i]
        epoch = live_files.bars.index[i].tz_localize("UTC").timestamp()
        live_files.tape.write([(s, epoch, row.open, row.high, row.low, row.close, 0.0, None, None, None, None, 1,
                                1_000.0 + i) for s in ("AAA", "ZZZ")])
    live_files.fill(1, 5, 2500.0)  # SPY held
    at = app(journal=str(live_files.path))
    at.run()
    assert not at.exception
    assert at.multiselect[0].value == ["SPY", "AAA"] and at.multiselect[0].options == ["AAA", "SPY", "ZZZ"]
    assert len(at.get("vega_lite_chart")) == 2 * 2 + 1, "candles and anomaly of two symbols, P&L"


def test_live_page_follows_a_growing_journal(app, live_files):
    """The page's state is cached by the files' versions: a new bar and a fill show on the next
    refresh, and without a change the ages still move."""
    for i in range(60):
        live_files.bar(i, written=1_000.0 + i)
    at = app(journal=str(live_files.path))
    at.run()
    first = _text(at)
    stamp = live_files.bars.index.strftime("%Y-%m-%d %H:%M:%S")
    assert f"last bar SPY {stamp[59]}" in first and "fills 0" in first
    live_files.bar(60)
    live_files.fill(1, 5, 2500.0)
    at.run()
    second = _text(at)
    assert f"last bar SPY {stamp[60]}" in second and "fills 1" in second, second
    live_files.journal.heartbeat("DISCONNECTED")
    at.run()
    assert "connection=DISCONNECTED" in _text(at)


def test_live_page_draws_model_lines_and_working_orders(app, live_files):
    for i in range(40):
        row = live_files.bars.iloc[i]
        epoch = live_files.bars.index[i].tz_localize("UTC").timestamp()
        live_files.tape.write([("SPY", epoch, row.open, row.high, row.low, row.close, 0.0, 0.2 + i / 100, None,
                                0.7, None, 1, 1_000.0 + i)])
        live_files.journal.record_bar("SPY", live_files.bars.index[i].tz_localize("UTC").to_pydatetime())
    live_files.order(7, shares=-3.0)  # a market order still working (Submitted)
    at = app(journal=str(live_files.path))
    at.run()
    assert not at.exception
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    model = [s for s in specs if '"p_long"' in s]
    assert len(specs) == 4 and len(model) == 1, "candles, anomaly, model lines, P&L"
    assert '"confidence"' in model[0] and '"p_short"' not in model[0], "only the lines the tape has values for"
    working = at.dataframe[1].value
    assert working[["side", "size", "state"]].values.tolist() == [["SELL", 3.0, "Submitted"]]
