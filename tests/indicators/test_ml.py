"""ML indicators: NaN before the first fold, runonce == next == stream == exactbars,
no lookahead (truncation and altered future), determinism with a seed."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.indicators.anomaly_ml import IsolationForestAnomaly
from btedge.indicators.ml import EnsembleSignal, LagNet
from btedge.testkit import assert_modes_agree, assert_no_lookahead, indicator_lines
from tests.support.btc import btc

N, TRAIN, EVERY = 500, 300, 100
SMALL = dict(train_bars=TRAIN, retrain_every=EVERY, seq_len=12, hidden=8, epochs=2, min_samples=50)


def ensemble(cache, members="cnn,tcn,xgb", **kw):
    return lambda s: EnsembleSignal(s.data, members=members, cache_dir=str(cache), **{**SMALL, **kw})


def anomaly(cache, **kw):
    return lambda s: IsolationForestAnomaly(s.data, cache_dir=str(cache), n_estimators=50, **{**SMALL, **kw})


def lagnet(cache, **kw):
    return lambda s: LagNet(s.data, cache_dir=str(cache), max_lag=12, **{**SMALL, **kw})


MAKERS = {"ensemble": ensemble, "anomaly": anomaly, "lagnet": lagnet}


@pytest.mark.slow
@pytest.mark.parametrize("name", MAKERS)
def test_modes_agree_and_no_output_before_first_fold(name, tmp_path):
    lines = assert_modes_agree(btc(N), MAKERS[name](tmp_path))
    for values in lines.values():
        assert np.isnan(values[:TRAIN]).all()
        assert np.isfinite(values[TRAIN:]).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", MAKERS)
def test_no_lookahead(name, tmp_path):
    assert_no_lookahead(btc(N), MAKERS[name](tmp_path), cuts=[350, 420])


@pytest.mark.slow
def test_lstm_members_modes_agree(tmp_path):
    assert_modes_agree(btc(420), ensemble(tmp_path, members="lstm,cnn_lstm"), modes=("runonce", "next"))


@pytest.mark.slow
@pytest.mark.parametrize("name", MAKERS)
def test_deterministic_with_seed_across_fresh_caches(name, tmp_path):
    a = indicator_lines(btc(420), MAKERS[name](tmp_path / "a"))
    b = indicator_lines(btc(420), MAKERS[name](tmp_path / "b"))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_ensemble_lines_are_consistent(tmp_path):
    lines = indicator_lines(btc(420), ensemble(tmp_path, members="xgb,xgb", weights="0.3,0.7"))
    p = np.column_stack([lines["p_short"], lines["p_neutral"], lines["p_long"]])[TRAIN:]
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(lines["confidence"][TRAIN:], p.max(axis=1))
    np.testing.assert_array_equal(lines["signal"][TRAIN:], p.argmax(axis=1) - 1)


def test_anomaly_flags_a_small_share(tmp_path):
    lines = indicator_lines(btc(N), anomaly(tmp_path, contamination=0.05))
    flags = lines["flag"][TRAIN:]
    assert set(np.unique(flags)) <= {0.0, 1.0} and 0.0 < flags.mean() < 0.3


def test_lagnet_lag_within_range(tmp_path):
    lines = indicator_lines(btc(420), lagnet(tmp_path))
    lag = lines["lag"][TRAIN:]
    assert ((lag >= 1.0) & (lag <= 12.0)).all()
    assert np.abs(np.diff(lag)).max() < 11 * 0.2 + 1e-9  # EMA smoothing bounds each step


@pytest.mark.parametrize("make, match", [
    (lambda s: EnsembleSignal(s.data, members="cnn,gru"), "kind must be one of"),
    (lambda s: EnsembleSignal(s.data, members="cnn,xgb", weights="1,2,3"), "weights must be"),
    (lambda s: EnsembleSignal(s.data, members="iforest"), "direction classifiers"),
    (lambda s: EnsembleSignal(s.data, train_bars=20, seq_len=32), "train_bars must be >= the model window"),
    (lambda s: LagNet(s.data, horizon=5, embargo=3), "embargo must be >= horizon"),
    (lambda s: LagNet(s.data, max_lag=64, seq_len=32), "max_lag must be in"),
    (lambda s: IsolationForestAnomaly(s.data, contamination=0.7), "contamination"),
])
def test_param_validation(make, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        indicator_lines(btc(50), make)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ensemble", "lagnet"])
def test_pretrained_uses_the_newest_cached_fold_in_every_mode(name, tmp_path):
    trained = indicator_lines(btc(N), MAKERS[name](tmp_path))  # trains folds 300 and 400
    live = assert_modes_agree(btc(N), MAKERS[name](tmp_path, pretrained=True), modes=("runonce", "stream"))
    first = next(iter(live.values()))
    assert np.isnan(first[:11]).all() and np.isfinite(first[72:]).all()  # from the first finite window
    if name == "ensemble":  # stateless: the newest fold scores the same windows identically
        for key in trained:
            np.testing.assert_allclose(live[key][400:], trained[key][400:], atol=1e-12)


def test_pretrained_without_a_backtest_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="run a backtest with the same params"):
        indicator_lines(btc(50), ensemble(tmp_path, pretrained=True))
