"""The chart's overlays equal btedge's backtrader indicators on real bars."""
from __future__ import annotations

import backtrader as bt
import numpy as np

from btedge.dashboard.overlays import OverlayParams, overlays
from btedge.feeds import FrameData, sample_data
from btedge.indicators import LaguerreFilter, LorentzianDistance, SupportResistance


class _Lines(bt.Strategy):
    def __init__(self) -> None:
        p = OverlayParams()
        self.sr = SupportResistance(self.data, period=p.sr_period)
        self.lag = LaguerreFilter(self.data.close, gamma=p.gamma)
        self.lz = LorentzianDistance(self.data.close, period=p.anomaly_period, k=p.anomaly_k)


def _line(line, n):  # type: ignore[no-untyped-def]
    return np.array(line.array[:n], dtype=float)


def test_overlays_equal_the_indicators_on_real_bars():
    bars = sample_data().iloc[:400]
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(FrameData(dataname=bars, timeframe=bt.TimeFrame.Minutes, compression=60))
    cerebro.addstrategy(_Lines)
    strat = cerebro.run()[0]
    got = overlays(bars)
    n = len(bars)
    pairs = {"support": strat.sr.support, "resistance": strat.sr.resistance, "laguerre": strat.lag.lfilter,
             "score": strat.lz.score, "threshold": strat.lz.threshold}
    for name, line in pairs.items():
        want = _line(line, n)
        ok = ~np.isnan(want)
        assert ok.sum() > 300, name
        np.testing.assert_allclose(got[name].to_numpy()[ok], want[ok], rtol=1e-9, atol=1e-9, err_msg=name)
        assert np.isnan(got[name].to_numpy()[~ok]).all(), f"{name}: a value where the indicator has none"


def test_overlays_use_no_later_bar():
    bars = sample_data().iloc[:300]
    full = overlays(bars)
    altered = bars.copy()
    altered.iloc[200:] *= 1.7
    np.testing.assert_array_equal(overlays(altered).iloc[:200].to_numpy(), full.iloc[:200].to_numpy())
