"""copilot_gated on a real backtest: veto only, journaled, replayed identically, fails closed live."""
from __future__ import annotations

import time

import pandas as pd
import pytest

from btedge.copilot.advice import Advice, AdviceError
from btedge.copilot.journal import read_journal
from btedge.copilot.strategy import copilot_gated, make_advisor
from btedge.engine import BacktestConfig, run_backtest
from btedge.feeds import sample_data
from btedge.strategies import LaguerreCross

CONFIG = BacktestConfig(commission=0.0005, slippage=0.0001)


@pytest.fixture(scope="module")
def bars():
    return sample_data().iloc[:700]


def _run(bars, gated=True, **params):  # type: ignore[no-untyped-def]
    cls = LaguerreCross
    return run_backtest(copilot_gated(cls) if gated else cls, [("BTC", bars)], params, CONFIG)


@pytest.mark.slow
def test_gate_only_vetoes_and_replay_is_identical(bars, tmp_path):
    plain = _run(bars, gated=False)
    journal = tmp_path / "advice.jsonl"
    gated = _run(bars, copilot_journal=str(journal))
    assert 0 < gated.trades["trades"] < plain.trades["trades"]
    assert gated.strategy.copilot_vetoes > 0
    records = read_journal(journal)
    decisions = [r for r in records if r["kind"] == "decision"]
    advice = {r["bar_time"]: r for r in records if r["kind"] == "advice"}
    assert decisions and all(d["advice_bar_time"] < d["bar_time"] for d in decisions), "advice never sees its bar"
    for d in decisions:
        given = advice[d["advice_bar_time"]]["advice"]
        agrees = given["stance"] == d["side"] and given["confidence"] >= 0.6
        assert d["allowed"] == agrees, d
    replayed = _run(bars, copilot="replay", copilot_path=str(journal))
    assert replayed.returns.equals(gated.returns) and replayed.trades == gated.trades


@pytest.mark.slow
def test_replay_refuses_changed_bars(bars, tmp_path):
    journal = tmp_path / "advice.jsonl"
    _run(bars, copilot_journal=str(journal))
    changed = bars.copy()
    changed["close"] = changed["close"] * 1.001
    changed["high"] = changed[["high", "close"]].max(axis=1)
    result = _run(changed, copilot="replay", copilot_path=str(journal))
    assert result.trades["trades"] == 0, "advice recorded on other bars must not trade"


class _Slow:
    name = "slow"

    def advise(self, snapshot, context=None):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        return Advice("long", 1.0, "too late")


class _Broken:
    name = "broken"

    def advise(self, snapshot, context=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("model crashed")


@pytest.mark.parametrize("advisor", [_Slow, _Broken])
def test_live_mode_fails_closed(bars, monkeypatch, advisor):
    monkeypatch.setattr("btedge.copilot.strategy.make_advisor", lambda kind, path="": advisor())
    start = time.perf_counter()
    result = _run(bars.iloc[:250], copilot_async=True)
    assert result.trades["trades"] == 0
    assert time.perf_counter() - start < 20, "next() never waits for the advisor"


def test_make_advisor_errors():
    with pytest.raises(ValueError, match="copilot must be one of"):
        make_advisor("oracle")
    with pytest.raises(ValueError, match="copilot_path"):
        make_advisor("replay")
    with pytest.raises(ValueError, match="BTEDGE_COPILOT_URL"):
        make_advisor("chat")


def test_worker_journals_failures(tmp_path):
    from btedge.copilot.journal import AdviceJournal
    from btedge.copilot.worker import AdvisorWorker, Request

    journal = AdviceJournal(tmp_path / "a.jsonl")
    worker = AdvisorWorker(_Broken(), journal, last=60, draw=False, inline=True)
    frame = sample_data().iloc[:120]
    worker.submit(Request.from_frame("BTC", frame))
    assert isinstance(worker.result("BTC", frame.index[-1]), AdviceError)
    journal.close()
    (record,) = read_journal(tmp_path / "a.jsonl")
    assert record["advice"] is None and "model crashed" in record["error"] and record["bars_sha256"]


def test_bt_index_equals_num2date():
    import backtrader as bt

    from btedge.copilot.worker import Request, bt_index

    times = sample_data().index[:500]
    numbers = [bt.date2num(t.to_pydatetime()) for t in times]
    assert list(bt_index(numbers)) == [pd.Timestamp(bt.num2date(x)) for x in numbers] == list(times)
    request = Request.from_frame("BTC", sample_data().iloc[:50])
    assert request.bar_time == times[49] and request.bars.equals(sample_data().iloc[:50][["open", "high", "low", "close"]])
