"""Snapshots (deterministic PNG named by bar time) and the rules advisor's four situations."""
from __future__ import annotations

import numpy as np
import pandas as pd

from btedge.copilot.rules import RulesAdvisor
from btedge.copilot.snapshot import frame_snapshot, render, snapshot_name
from btedge.feeds import sample_data

PNG = b"\x89PNG\r\n\x1a\n"


def test_snapshot_png_is_deterministic_and_named_by_bar_time(tmp_path):
    bars = sample_data().iloc[:160]
    one = render(bars, "BTC-USD", last=60, folder=tmp_path)
    two = render(bars, "BTC-USD", last=60)
    assert one.png.startswith(PNG) and one.png == two.png and one.sha256 == two.sha256
    assert one.path == tmp_path / snapshot_name("BTC-USD", bars.index[-1]) and one.path.read_bytes() == one.png
    assert len(one.frame) == 60 and one.bar_time == bars.index[-1]
    assert one.bars_sha256 == frame_snapshot(bars, "BTC-USD", 60).bars_sha256
    moved = bars.copy()
    moved.iloc[-1, moved.columns.get_loc("close")] *= 1.01
    assert render(moved, "BTC-USD").sha256 != one.sha256


def test_snapshot_name_converts_to_utc():
    assert snapshot_name("ES:FUT", pd.Timestamp("2024-01-02 09:30", tz="US/Eastern")) == "ES_FUT_20240102T143000Z.png"


def _bars(close: np.ndarray, spread: float = 0.5) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(close), freq="h")
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame({"open": open_, "high": np.maximum(open_, close) + spread,
                         "low": np.minimum(open_, close) - spread, "close": close}, index=index)


def _advise(close):  # type: ignore[no-untyped-def]
    return RulesAdvisor().advise(frame_snapshot(_bars(np.asarray(close, dtype=float)), "X", 60))


def test_breakout_above_resistance():
    close = np.r_[100 + np.sin(np.arange(80)) * 0.3, 104.0]
    assert _advise(close).stance == "long" and "breakout" in _advise(close).rationale


def test_breakdown_below_support():
    close = np.r_[100 + np.sin(np.arange(80)) * 0.3, 96.0]
    assert _advise(close).stance == "short"


def test_failed_retest_is_flat():
    close = np.r_[100 + np.sin(np.arange(80)) * 0.3, 104.0, 100.0, 100.1]
    advice = _advise(close)
    assert advice.stance == "flat" and "failed retest" in advice.rationale


def test_chop_is_flat():
    close = 100 + np.where(np.arange(100) % 2 == 0, 0.4, -0.4)
    advice = _advise(close)
    assert advice.stance == "flat" and ("chop" in advice.rationale or "anomal" in advice.rationale)


def test_trend_follows_the_filter():
    rng = np.random.default_rng(0)
    up = 100 + np.cumsum(0.3 + rng.normal(0, 0.05, 100))
    # each close stays below the previous bar's high (close + 0.5): a trend, never a breakout
    advice = _advise(up)
    assert advice.stance == "long" and "trend" in advice.rationale and advice.confidence > 0.5


def test_too_few_bars_is_flat():
    assert _advise(np.linspace(100, 101, 10)).confidence == 0.0
