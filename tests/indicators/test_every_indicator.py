"""Every exported single-data indicator: identical lines in every engine mode, and no lookahead."""
from __future__ import annotations

import numpy as np
import pytest

import btedge.indicators as ind
from btedge.testkit import assert_modes_agree, assert_no_lookahead

CASES = {
    "LaguerreFilter": lambda s: ind.LaguerreFilter(s.data, gamma=0.5),
    "LaguerreRSI": lambda s: ind.LaguerreRSI(s.data, gamma=0.6),
    "AdaptiveLaguerreFilter": lambda s: ind.AdaptiveLaguerreFilter((s.data.high + s.data.low) / 2.0),
    "LaguerreChannel": lambda s: ind.LaguerreChannel(s.data, period=10),
    "LorentzianScore": lambda s: ind.LorentzianScore(s.data),
    "LorentzianDistance": lambda s: ind.LorentzianDistance(s.data, period=30),
    "SupportResistance": lambda s: ind.SupportResistance(s.data, period=15),
    "RollingStd": lambda s: ind.RollingStd(s.data, period=12),
}
EXTRA_CASES = {  # other modes and compositions worth the same guarantees
    "LaguerreFilter unseeded": lambda s: ind.LaguerreFilter(s.data, gamma=0.8, seed=False),
    "LaguerreRSI unseeded": lambda s: ind.LaguerreRSI(s.data, seed=False),
    "AdaptiveLaguerreFilter atr": lambda s: ind.AdaptiveLaguerreFilter(s.data, mode="atr"),
    "LaguerreFilter of an SMA": lambda s: ind.LaguerreFilter(ind.LaguerreRSI(s.data), gamma=0.3),
}
SINGLE_DATA_MODULES = ("btedge.indicators.laguerre", "btedge.indicators.anomaly", "btedge.indicators.levels")


def test_every_exported_indicator_is_covered():
    exported = {name for name in ind.__all__ if getattr(ind, name).__module__ in SINGLE_DATA_MODULES}
    assert exported <= set(CASES), f"add a case for {sorted(exported - set(CASES))}"


@pytest.mark.parametrize("name", sorted(CASES) + sorted(EXTRA_CASES))
def test_modes_agree_and_no_lookahead(min2006, name):
    make = {**CASES, **EXTRA_CASES}[name]
    frame = min2006.iloc[:600]
    lines = assert_modes_agree(frame, make)
    assert all(np.isfinite(v[-100:]).all() for v in lines.values()), "no values at the end"
    assert_no_lookahead(frame, make, cuts=(50, 233, 599))


def test_lorentzian_matches_formula(day2006):
    lines = assert_modes_agree(day2006, lambda s: ind.LorentzianDistance(s.data, period=20, k=2.0))
    r = day2006["close"].pct_change() * 100.0
    score = np.log1p(r.diff() ** 2)
    past = score.shift(1)
    threshold = past.rolling(20).mean() + 2.0 * past.rolling(20).std(ddof=0)
    np.testing.assert_allclose(lines["score"], score, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(lines["threshold"], threshold, rtol=1e-9, equal_nan=True)
    flagged = (score > threshold).to_numpy()
    valid = threshold.notna().to_numpy()
    assert np.array_equal(lines["flag"][valid] > 0, flagged[valid])
    assert 0 < flagged[valid].sum() < valid.sum() * 0.2


def test_support_resistance_are_rolling_extremes(day2006):
    lines = assert_modes_agree(day2006, lambda s: ind.SupportResistance(s.data, period=7))
    np.testing.assert_array_equal(lines["support"], day2006["low"].rolling(7).min().to_numpy())
    np.testing.assert_array_equal(lines["resistance"], day2006["high"].rolling(7).max().to_numpy())


def test_param_errors(day2006):
    from btedge.testkit import indicator_lines

    for make, message in [
        (lambda s: ind.LorentzianDistance(s.data, period=1), "period must be >= 2"),
        (lambda s: ind.LorentzianScore(s.data, scale=0), "scale must be > 0"),
        (lambda s: ind.SupportResistance(s.data.close), "needs a data feed with high and low"),
    ]:
        with pytest.raises(ValueError, match=message):
            indicator_lines(day2006.iloc[:30], make)
