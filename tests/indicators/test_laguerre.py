"""Laguerre family against independent references: backtrader, the shared reference series,
jesse's anchor, the closed-form IIR, and a plain transcription of Ehlers' recursion."""
from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter, lfilter_zi

from btedge import kernels as k
from btedge.indicators import AdaptiveLaguerreFilter, LaguerreChannel, LaguerreFilter, LaguerreRSI
from btedge.testkit import assert_modes_agree, indicator_lines
from tests.support.shared import require_shared

GAMMAS = (0.0, 0.2, 0.5, 0.8)


def ehlers_loop(x, gamma, seed):
    """Plain transcription of Ehlers' recursion, keeping the previous stage values explicitly."""
    l0 = l1 = l2 = l3 = (x[0] if seed else 0.0)
    filt, rsi = [], []
    for price in x:
        l0p, l1p, l2p = l0, l1, l2
        l0 = (1 - gamma) * price + gamma * l0p
        l1 = -gamma * l0 + l0p + gamma * l1p
        l2 = -gamma * l1 + l1p + gamma * l2p
        l3 = -gamma * l2 + l2p + gamma * l3
        filt.append((l0 + 2 * l1 + 2 * l2 + l3) / 6)
        cu = sum(max(a - b, 0) for a, b in ((l0, l1), (l1, l2), (l2, l3)))
        cd = sum(max(b - a, 0) for a, b in ((l0, l1), (l1, l2), (l2, l3)))
        rsi.append(cu / (cu + cd) if cu + cd else 1.0)
    return np.array(filt), np.array(rsi)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_filter_unseeded_equals_backtrader(day2006, gamma):
    ours = indicator_lines(day2006, lambda s: LaguerreFilter(s.data, gamma=gamma, seed=False))["lfilter"]
    theirs = indicator_lines(day2006, lambda s: bt.ind.LaguerreFilter(s.data, gamma=gamma))["lfilter"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_rsi_unseeded_equals_backtrader(day2006, gamma):
    ours = indicator_lines(day2006, lambda s: LaguerreRSI(s.data, gamma=gamma, seed=False))["lrsi"]
    theirs = indicator_lines(day2006, lambda s: bt.ind.LaguerreRSI(s.data, gamma=gamma))["lrsi"]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)


def test_rsi_backtrader_checkpoints_in_every_mode(day2006):
    """backtrader's tests/test_ind_lrsi.py: last, first valid and middle bar."""
    lrsi = assert_modes_agree(day2006, lambda s: LaguerreRSI(s.data, seed=False))["lrsi"]
    n, first = len(lrsi), 5  # period 6: first value on bar index 5
    checks = [lrsi[-1], lrsi[first], lrsi[first + (n - first) // 2 - 1]]
    assert [f"{v:f}" for v in checks] == ["0.748915", "0.714286", "1.000000"]
    assert np.isnan(lrsi[:first]).all()


@pytest.mark.parametrize("gamma", (0.2, 0.5, 0.8))
def test_matches_shared_reference_series(gamma):
    """Direct transcription and backtrader on the S&P 500 1999-2018 (zero-initialised)."""
    ref = pd.read_csv(require_shared("reference", "laguerre", "laguerre_sp500_1999-2018_direct_and_backtrader.csv.gz"),
                      parse_dates=["Date"], index_col="Date")
    frame = pd.DataFrame({c: ref["Close"] for c in ("open", "high", "low", "close")}).assign(volume=0.0)
    lines = indicator_lines(frame, lambda s: LaguerreFilter(s.data, gamma=gamma, seed=False))
    np.testing.assert_allclose(lines["lfilter"], ref[f"lagf_g{gamma}"], rtol=1e-8)
    rsi = indicator_lines(frame, lambda s: LaguerreRSI(s.data, gamma=gamma, seed=False))["lrsi"]
    valid = ref[f"lrsi_g{gamma}"].notna().to_numpy()
    assert np.array_equal(valid, ~np.isnan(rsi))
    np.testing.assert_allclose(rsi[valid], ref[f"lrsi_g{gamma}"][valid], atol=1e-9)
    seeded = indicator_lines(frame, lambda s: LaguerreFilter(s.data, gamma=gamma))["lfilter"]
    # a seeded filter converges to the zero-started one once the transient has decayed
    np.testing.assert_allclose(seeded[300:], ref[f"lagf_g{gamma}"][300:], rtol=1e-6)
    assert abs(seeded[0] - ref["Close"].iloc[0]) < 1e-9  # and has no start-up transient


@pytest.mark.parametrize("seed", (True, False))
def test_rsi_jesse_anchor(seed):
    """jesse's test_lrsi: gamma 0.8 on (H+L)/2: last 0.1024329, one before 0.0442427 (0 where CU+CD=0)."""
    raw = pd.read_csv(require_shared("reference", "laguerre", "jesse_test_candles_19_ETHUSD_daily.csv"),
                      parse_dates=["date"], index_col="date")
    lrsi = indicator_lines(raw, lambda s: LaguerreRSI((s.data.high + s.data.low) / 2.0, gamma=0.8,
                                                      seed=seed, flat=0.0))["lrsi"]
    np.testing.assert_allclose(lrsi[-2:], [0.0442427, 0.1024329], atol=5e-8)


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("seed", (True, False))
def test_kernels_equal_ehlers_loop_and_iir(day2006, gamma, seed):
    x = day2006["close"].to_numpy()
    filt, rsi = ehlers_loop(x, gamma, seed)
    np.testing.assert_allclose(k.laguerre_filter_series(x, gamma, seed), filt, rtol=1e-11)
    np.testing.assert_allclose(k.laguerre_rsi_series(x, gamma, seed), rsi, atol=1e-9)
    b, a = k.laguerre_iir_coefficients(gamma)
    zi = lfilter_zi(b, a) * x[0] if seed else np.zeros(len(a) - 1)
    np.testing.assert_allclose(lfilter(b, a, x, zi=zi)[0], filt, rtol=1e-9)


def test_incremental_state_continues_vectorised(day2006):
    """next() can take over from once(): the carried state is the same."""
    x = day2006["close"].to_numpy()
    state = k.laguerre_init(x[0], True)
    stages, state = k.laguerre_stages(x[:100], 0.5, state)
    for v in x[100:]:
        state = k.laguerre_step(state, v, 0.5)
    _, whole = k.laguerre_stages(x, 0.5, k.laguerre_init(x[0], True))
    np.testing.assert_allclose(state, whole, rtol=1e-12)


def adaptive_reference(x, length=20, median=5, alpha0=0.5):
    """Ehlers' adaptive Laguerre transcribed directly with pandas-free lists."""
    state = [x[0]] * 4
    filt_prev, alpha, diffs, ratios, out = x[0], alpha0, [], [], []
    for price in x:
        diffs = (diffs + [abs(price - filt_prev)])[-length:]
        if len(diffs) == length and max(diffs) > min(diffs):
            ratios = (ratios + [(diffs[-1] - min(diffs)) / (max(diffs) - min(diffs))])[-median:]
            alpha = float(np.median(ratios))
        g = 1 - alpha
        l0p, l1p, l2p, l3p = state
        l0 = alpha * price + g * l0p
        l1 = -g * l0 + l0p + g * l1p
        l2 = -g * l1 + l1p + g * l2p
        l3 = -g * l2 + l2p + g * l3p
        state = [l0, l1, l2, l3]
        filt_prev = (l0 + 2 * l1 + 2 * l2 + l3) / 6
        out.append(filt_prev)
    return np.array(out)


def test_adaptive_matches_direct_transcription(day2006):
    median_price = ((day2006["high"] + day2006["low"]) / 2).to_numpy()
    lines = assert_modes_agree(day2006, lambda s: AdaptiveLaguerreFilter((s.data.high + s.data.low) / 2.0))
    np.testing.assert_allclose(lines["lfilter"], adaptive_reference(median_price), rtol=1e-12)
    assert ((lines["gamma"] >= 0) & (lines["gamma"] <= 1)).all()
    assert lines["gamma"].std() > 0.05  # it actually adapts


@pytest.mark.parametrize("mode", ("error", "atr"))
def test_adaptive_is_safe_on_flat_data(mode):
    idx = pd.date_range("2024-01-01", periods=60, freq="1min")
    flat = pd.DataFrame({c: 100.0 for c in ("open", "high", "low", "close")}, index=idx).assign(volume=1.0)
    lines = assert_modes_agree(flat, lambda s: AdaptiveLaguerreFilter(s.data, mode=mode, length=10))
    valid = lines["lfilter"][~np.isnan(lines["lfilter"])]
    assert len(valid) >= 49 and np.allclose(valid, 100.0)


def test_adaptive_atr_mode_scales_gamma_with_volatility(min2006):
    lines = assert_modes_agree(min2006, lambda s: AdaptiveLaguerreFilter(s.data, mode="atr", length=14))
    atr = indicator_lines(min2006, lambda s: bt.ind.ATR(s.data, period=14))["atr"]
    expected = 1 - np.clip(atr / min2006["close"].to_numpy() * 25.0, 0, 1)
    np.testing.assert_allclose(lines["gamma"], expected, rtol=1e-12, equal_nan=True)


def test_channel_is_filter_plus_minus_rolling_std(day2006):
    lines = assert_modes_agree(day2006, lambda s: LaguerreChannel(s.data, gamma=0.6, period=10, devfactor=1.5))
    mid = pd.Series(k.laguerre_filter_series(day2006["close"].to_numpy(), 0.6))
    std = mid.rolling(10).std(ddof=0).to_numpy()
    np.testing.assert_allclose(lines["mid"], mid, rtol=1e-12)
    np.testing.assert_allclose(lines["top"], mid + 1.5 * std, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(lines["bot"], mid - 1.5 * std, rtol=1e-9, equal_nan=True)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda s: LaguerreFilter(s.data, gamma=1.0), "gamma must be in [0, 1)"),
        (lambda s: LaguerreFilter(s.data, gamma=-0.1), "gamma must be in [0, 1)"),
        (lambda s: LaguerreRSI(s.data, period=0), "period must be >= 1"),
        (lambda s: AdaptiveLaguerreFilter(s.data, mode="fast"), "mode must be"),
        (lambda s: AdaptiveLaguerreFilter(s.data.close, mode="atr"), "needs a data feed"),
        (lambda s: LaguerreChannel(s.data, period=1), "period must be >= 2"),
        (lambda s: LaguerreFilter(s.data, gama=0.3), "unexpected keyword"),
    ],
)
def test_bad_params_are_named(day2006, make, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("[", r"\[").replace(")", r"\)")):
        indicator_lines(day2006.iloc[:20], make)


@pytest.mark.parametrize("gamma", (0.2, 0.5, 0.8))
@pytest.mark.parametrize("make", [
    lambda s, g: LaguerreFilter(s.data, gamma=g),
    lambda s, g: LaguerreFilter(s.data, gamma=g, seed=False),
    lambda s, g: LaguerreRSI(s.data, gamma=g),
], ids=["filter", "filter-unseeded", "rsi"])
def test_vectorised_and_bar_by_bar_paths_are_bit_identical(min2006, gamma, make):
    """Exact equality, not a tolerance: a one-ulp difference flips a strategy's tie (fast == slow
    on a seeded first bar) between runonce and live."""
    assert_modes_agree(min2006, lambda s: make(s, gamma), atol=0.0, rtol=0.0)
    x = min2006["close"].to_numpy()
    state = k.laguerre_init(x[0], True)
    stepped = []
    for v in x:
        state = k.laguerre_step(state, v, gamma)
        stepped.append(state)
    stages, _ = k.laguerre_stages(x, gamma, k.laguerre_init(x[0], True))
    assert np.array_equal(np.array(stepped).T, stages)
