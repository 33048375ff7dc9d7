"""The tape records what a run saw; fills land on their bars; P&L marked to market by hand."""
from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from btedge.dashboard.live import live_state
from btedge.dashboard.pnl import fill_bars, marked_pnl
from btedge.dashboard.tape import BarTape, read_bars, tape_path
from btedge.feeds import FrameData, sample_data


def test_tape_path_sits_beside_the_journal(tmp_path):
    assert tape_path(tmp_path / "x.DU1.sqlite") == tmp_path / "x.DU1.tape.sqlite"


class _Model(bt.Indicator):
    lines = ("p_long", "confidence")

    def next(self) -> None:
        self.lines.p_long[0] = 0.25
        self.lines.confidence[0] = 0.75


class _WithModel(bt.Strategy):
    def __init__(self) -> None:
        self.model = _Model(self.data)


def test_bar_tape_records_every_bar_and_the_model_lines(tmp_path):
    bars = sample_data().iloc[:50]
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=bars, timeframe=bt.TimeFrame.Minutes, compression=60), name="BTC")
    cerebro.addstrategy(_WithModel)
    cerebro.addanalyzer(BarTape, path=tmp_path / "t.tape.sqlite", clock=lambda: 5.0)
    cerebro.run(runonce=False)
    got = read_bars(tmp_path / "t.tape.sqlite")
    assert len(got) == 50 and (got["symbol"] == "BTC").all()
    np.testing.assert_allclose(got["close"].to_numpy(), bars["close"].to_numpy())
    assert list(got.index.tz_localize(None)) == list(bars.index)
    assert (got["p_long"] == 0.25).all() and (got["confidence"] == 0.75).all() and got["p_short"].isna().all()
    assert (got["written"] == 5.0).all()
    assert len(read_bars(tmp_path / "t.tape.sqlite", last=10)) == 10


def test_missing_tape_reads_empty(tmp_path):
    assert read_bars(tmp_path / "none.tape.sqlite").empty


def _bars(closes, written):  # type: ignore[no-untyped-def]
    index = pd.date_range("2024-01-02 14:30", periods=len(closes), freq="min", tz="UTC")
    return pd.DataFrame({"symbol": "SPY", "open": closes, "high": closes, "low": closes, "close": closes,
                         "written": written}, index=index)


def test_fills_land_on_the_bar_forming_when_they_were_booked():
    bars = _bars([100.0, 101.0, 102.0, 103.0], [10.0, 20.0, 30.0, 40.0])
    fills = pd.DataFrame({"symbol": ["SPY", "SPY"], "shares": [10.0, -10.0], "price": [101.0, 103.0],
                          "commission": [1.0, 1.0], "booked": [15.0, 35.0], "time": [15.0, 35.0]})
    got = fill_bars(fills, bars)
    assert list(got["bar_time"]) == [bars.index[1], bars.index[3]]


def test_fill_before_the_tape_goes_by_its_execution_time():
    bars = _bars([100.0, 101.0, 102.0], [2e9, 2e9, 2e9])  # the tape was written after the fill
    t1 = bars.index[1].timestamp() + 5
    fills = pd.DataFrame({"symbol": ["SPY"], "shares": [1.0], "price": [101.0], "commission": [0.0],
                          "booked": [t1], "time": [t1]})
    assert fill_bars(fills, bars)["bar_time"].iloc[0] == bars.index[1]


def test_marked_pnl_by_hand():
    bars = _bars([100.0, 101.0, 99.0, 103.0], [1.0, 2.0, 3.0, 4.0])
    fills = pd.DataFrame({"symbol": ["SPY", "SPY"], "shares": [10.0, -10.0], "price": [101.0, 103.0],
                          "commission": [1.0, np.nan], "bar_time": [bars.index[1], bars.index[3]]})
    got = marked_pnl(fills, bars)
    # bar1: -1011 + 10*101 = -1; bar2: -1011 + 990 = -21; bar3: -1011 + 1030 = 19 (flat after the sell)
    assert got["pnl"].tolist() == pytest.approx([0.0, -1.0, -21.0, 19.0])
    assert got["drawdown"].tolist() == pytest.approx([0.0, -1.0, -21.0, 0.0])


def test_live_state_puts_fills_on_the_chart(live_files):
    for i in range(60):
        live_files.bar(i, written=1_000.0 + i)
    live_files.fill(1, 5, 2500.0)
    state = live_state(str(live_files.path), last=40)
    assert state.symbols == ["SPY"] and len(state.bars["SPY"]) == 40
    assert state.lines["SPY"]["support"].notna().all(), "warm-up bars are read before the shown ones"
    assert len(state.fills) == 1 and state.fills["bar_time"].iloc[0] == state.bars["SPY"].index[-1]
    assert state.status["connection"] == "CONNECTED"
