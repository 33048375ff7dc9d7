"""OnlineSignal / OnlineForecast: same lines in every engine mode, no lookahead, labels from
the whole series equal the ones learned bar by bar."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.indicators.online import OnlineForecast, OnlineSignal
from btedge.testkit import assert_modes_agree, assert_no_lookahead, indicator_lines
from tests.support.btc import btc
from tests.support.planted_bars import planted_ohlcv


def signal(**kw):
    return lambda s: OnlineSignal(s.data, horizon=3, min_learned=20, **kw)


def forecast(**kw):
    return lambda s: OnlineForecast(s.data, horizon=3, min_learned=20, **kw)


@pytest.mark.parametrize("make", [signal(), forecast()], ids=["signal", "forecast"])
def test_modes_agree_and_no_lookahead(make):
    lines = assert_modes_agree(btc(400), make)
    first = next(iter(lines.values()))
    assert np.isnan(first[:60]).all() and np.isfinite(first[150:]).all()
    assert_no_lookahead(btc(400), make, cuts=[150, 151, 152, 153, 300])


def test_signal_lines_are_consistent_probabilities():
    lines = indicator_lines(btc(300), signal())
    p = np.column_stack([lines["p_short"], lines["p_neutral"], lines["p_long"]])
    ok = np.isfinite(p).all(axis=1)
    np.testing.assert_allclose(p[ok].sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(lines["signal"][ok], p[ok].argmax(axis=1) - 1)


def test_learns_the_planted_signal_online():
    df = planted_ohlcv(1500)
    lines = indicator_lines(df, lambda s: OnlineSignal(s.data, horizon=1, min_learned=20))
    truth = np.sign(np.log(df["volume"].to_numpy()) - 8.0)  # the planted class of each bar
    late = np.arange(1000, 1499)
    assert (lines["signal"][late] == truth[late]).mean() >= 0.8


def test_bad_min_learned_is_one_clear_error():
    with pytest.raises(ValueError, match="min_learned must be >= 1"):
        indicator_lines(btc(100), lambda s: OnlineSignal(s.data, min_learned=0))


@pytest.mark.parametrize("target", ["return", "class"])
def test_array_runner_equals_the_indicator_lines(target):
    from btedge.models.features import FeatureSpec, build_features
    from btedge.models.labels import LabelSpec, forward_return, make_labels
    from btedge.models.online import run_online

    df = btc(300)
    o, h, low, c, v = (df[k].to_numpy(float) for k in ("open", "high", "low", "close", "volume"))
    feats = build_features(o, h, low, c, v, FeatureSpec())
    if target == "return":
        got = run_online(feats, forward_return(c, 3), 3, "return", min_learned=20)[:, 0]
        ref = indicator_lines(df, forecast())["forecast"]
    else:
        got = run_online(feats, make_labels(c, c, c, LabelSpec(horizon=3)), 3, "class", min_learned=20)[:, 2]
        ref = indicator_lines(df, signal())["p_long"]
    np.testing.assert_allclose(got, ref, atol=1e-12, rtol=0, equal_nan=True)


@pytest.mark.slow
def test_kan_partial_fit_modes_agree_no_lookahead_and_learns_the_planted_signal():
    make = signal(model="kan", lr=0.01)
    assert_modes_agree(btc(250), make)
    assert_no_lookahead(btc(250), make, cuts=[150, 153])
    df = planted_ohlcv(1200)
    lines = indicator_lines(df, lambda s: OnlineSignal(s.data, horizon=1, min_learned=20, model="kan", lr=0.01))
    truth = np.sign(np.log(df["volume"].to_numpy()) - 8.0)
    late = np.arange(800, 1199)
    assert (lines["signal"][late] == truth[late]).mean() >= 0.8


def test_kan_is_for_classes_only():
    with pytest.raises(ValueError, match="model 'kan' learns the direction classes only"):
        indicator_lines(btc(100), forecast(model="kan"))
