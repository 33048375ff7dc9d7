"""The recording indicators: same outputs as the library's, shuffled control, static lag, no lookahead."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.evaluation.runner import combine
from btedge.evaluation.signals import ensemble_forecast, lagnet_forecast, shuffle_fold_labels
from tests.support.btc import btc

N, TRAIN = 600, 300
TINY = dict(train_bars=TRAIN, retrain_every=150, window="sliding", horizon=5, seq_len=8, hidden=4, epochs=2,
            min_samples=50, max_samples=250)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("cache"))
    df = btc(N)
    real = ensemble_forecast(df, "xgb,cnn", cache_dir=cache, **TINY)
    shuffled = ensemble_forecast(df, "xgb,cnn", shuffle_seed=0, cache_dir=cache + "/s", **TINY)
    cut = ensemble_forecast(df.iloc[:450], "xgb,cnn", cache_dir=cache, **TINY)
    return real, shuffled, cut


def test_shuffle_permutes_only_inside_the_window():
    labels = np.array([0, 1, 2, np.nan, 2, 2, 0, 1, 1, 0], dtype=float)
    out = shuffle_fold_labels(labels, 2, 8, seed=[0, 8])
    assert np.array_equal(out[:2], labels[:2]) and np.array_equal(out[8:], labels[8:])
    assert np.isnan(out[3])
    inside = labels[2:8]
    assert sorted(out[2:8][np.isfinite(out[2:8])]) == sorted(inside[np.isfinite(inside)])
    assert not np.array_equal(out, shuffle_fold_labels(labels, 2, 8, seed=[1, 8]))


@pytest.mark.slow
def test_recorded_members_recombine_to_the_indicator_output(runs):
    real, _, _ = runs
    ok = np.isfinite(real.proba).all(axis=1)
    assert ok.sum() == N - TRAIN and not ok[:TRAIN].any()
    w = real.learned_weights[ok]
    mine = (real.member_proba[ok] * w[:, :, None]).sum(axis=1) / w.sum(axis=1)[:, None]
    assert mine == pytest.approx(real.proba[ok], abs=1e-12)
    equal = combine(real.member_proba, np.ones(2))[ok]
    assert equal == pytest.approx(real.member_proba[ok].mean(axis=1), abs=1e-12)


@pytest.mark.slow
def test_shuffled_labels_train_different_models(runs):
    real, shuffled, _ = runs
    ok = np.isfinite(real.proba).all(axis=1)
    assert np.abs(real.proba[ok] - shuffled.proba[ok]).max() > 1e-3


@pytest.mark.slow
def test_recording_has_no_lookahead(runs):
    real, _, cut = runs
    assert np.array_equal(np.isnan(cut.member_proba), np.isnan(real.member_proba[:450]))
    assert np.nan_to_num(cut.member_proba) == pytest.approx(np.nan_to_num(real.member_proba[:450]), abs=1e-12)


@pytest.mark.slow
def test_static_lag_comes_from_the_grid_and_forecasts_where_the_dynamic_one_does(tmp_path):
    f = lagnet_forecast(btc(N), cache_dir=str(tmp_path), **TINY)
    assert set(f.static_lags) == {300, 450}
    assert all(1 <= lag <= 8 for lag in f.static_lags.values())
    assert np.array_equal(np.isfinite(f.static), np.isfinite(f.dynamic))
    assert np.isfinite(f.dynamic[TRAIN:]).all()
