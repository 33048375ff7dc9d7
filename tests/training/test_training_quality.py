"""Members that train: a positive control per member, early stopping then refit, weights from the
log-loss gain, independent member seeds, and the leak checks (planted future signal, label shift)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from btedge.indicators.ml import WEIGHT_FLOOR, learned_weight
from btedge.models.features import sequence_windows
from btedge.models.spec import member_seed, parse_members
from btedge.training.validation import balanced_accuracy
from tests.support.planted import planted_features, planted_labels, planted_score, walk

torch.set_num_threads(1)
N, TRAIN = 1000, 700
CLASSIFIERS = ("lstm", "cnn", "tcn", "xgb", "cnn_lstm")


def oos_balanced_accuracy(out: np.ndarray, y: np.ndarray, start: int = TRAIN) -> float:
    return balanced_accuracy(out[start:].argmax(axis=1), y[start:])


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_positive_control_every_default_member_learns_a_planted_signal(kind, tmp_path):
    X = planted_features(N)
    y = planted_labels(X)
    started = time.perf_counter()
    wf, out = walk(kind, X, y, str(tmp_path))
    seconds = time.perf_counter() - started
    ba = oos_balanced_accuracy(out, y)
    meta = wf.fitted(TRAIN, X, y)
    print(f"positive control {kind}: OOS balanced accuracy {ba:.3f} on {N - TRAIN} bars, "
          f"{meta.meta['epochs']} epochs, {seconds:.2f} s for the fold")
    assert ba >= 0.8


def test_positive_control_lagnet_forecasts_the_planted_return(tmp_path):
    X = planted_features(N)
    ret = 0.01 * planted_score(X)
    wf, raw_lag = walk("lagnet", X, ret, str(tmp_path))
    fitted = wf.fitted(TRAIN, X, ret)
    rows = np.arange(TRAIN, N)
    windows = fitted.scale(sequence_windows(X, rows, 8))
    forecast = fitted.model.forecast(windows, np.round(raw_lag[rows, 0]))
    up = (ret[rows] > 0).astype(float)
    ba = balanced_accuracy((forecast > 0).astype(float), up)
    print(f"positive control lagnet: OOS balanced accuracy of the forecast's sign {ba:.3f}")
    assert ba >= 0.8


def test_early_stopping_on_the_purged_tail_then_refit_on_the_whole_window(tmp_path):
    X = planted_features(N)
    y = planted_labels(X)
    wf, _ = walk("cnn", X, y, str(tmp_path), epochs=60, patience=3)
    meta = wf.fitted(TRAIN, X, y).meta
    info = meta["info"]
    assert 1 <= meta["epochs"] == info["epochs"] <= info["epochs_run"] <= 60
    assert info["epochs_run"] < 60 or meta["epochs"] >= 57  # stopped early, or still improving at the end
    assert info["refit"]["epochs"] == meta["epochs"]  # refit for the chosen number of epochs
    assert meta["n_fit"] + 1 + meta["n_val"] == meta["n_train"]  # horizon-1 purge between fit and tail
    xgb_meta = walk("xgb", X, y, str(tmp_path / "x"), n_estimators=400)[0].fitted(TRAIN, X, y).meta
    assert xgb_meta["epochs"] < 400 and xgb_meta["info"]["refit"]["epochs"] == xgb_meta["epochs"]


def test_learned_weights_follow_the_log_loss_gain(tmp_path):
    """A member that learned (real labels) weighs far more than the floor; one trained on
    shuffled labels is no better than the prior and keeps about the floor."""
    X = planted_features(N)
    y = planted_labels(X)
    good = walk("xgb", X, y, str(tmp_path / "g"))[0].fitted(TRAIN, X, y).meta
    shuffled = np.random.default_rng(1).permutation(y)
    bad = walk("xgb", X, shuffled, str(tmp_path / "b"))[0].fitted(TRAIN, X, shuffled).meta
    assert good["val_gain"] > 0.3 and bad["val_gain"] < 0.05
    assert learned_weight(good["val_gain"]) > 100 * WEIGHT_FLOOR
    assert learned_weight(bad["val_gain"]) < 0.05 + WEIGHT_FLOOR
    assert learned_weight(None) == learned_weight(float("nan")) == learned_weight(-1.0) == WEIGHT_FLOOR


def test_member_seeds_are_independent_across_seeds_and_members():
    specs = parse_members("lstm,lstm,cnn,cnn,tcn,tcn,xgb")
    seeds = {s: [member_seed(s, i, m.kind, m.seed) for i, m in enumerate(specs)] for s in (0, 1, 2)}
    assert all(len(set(v)) == len(specs) for v in seeds.values())
    assert not set(seeds[0]) & set(seeds[1]) and not set(seeds[1]) & set(seeds[2])
    assert seeds[0] == [member_seed(0, i, m.kind, m.seed) for i, m in enumerate(specs)]  # deterministic


def test_a_planted_future_signal_leaves_earlier_scores_unchanged(tmp_path):
    """Labels made perfectly learnable only from bar 850 on: every output before 850 is
    bit-identical to the run without the plant (fresh caches); the plant is learnable, so the
    test can fail: the fold that trains on it (at 1000) scores better than the clean one."""
    X = planted_features(1300)
    noise = np.random.default_rng(5).integers(0, 3, 1300).astype(float)
    planted = noise.copy()
    planted[850:] = planted_labels(X)[850:]
    kw = dict(train_bars=700, every=150)
    _, clean = walk("xgb", X, noise, str(tmp_path / "clean"), **kw)
    _, plant = walk("xgb", X, planted, str(tmp_path / "plant"), **kw)
    np.testing.assert_array_equal(plant[:850], clean[:850])
    late = slice(1000, 1300)
    assert oos_balanced_accuracy(plant[late], planted[late], 0) > oos_balanced_accuracy(clean[late], planted[late], 0) + 0.2


def test_label_shift_destroys_the_planted_signal(tmp_path):
    """Training on labels shifted 3 bars later (label[t] = class of bar t + 3) must fall to chance:
    the models read the signal from the features of bar t, not from the labels' position."""
    X = planted_features(N)
    y = planted_labels(X)
    shifted = np.full(N, np.nan)
    shifted[:-3] = y[3:]
    _, aligned = walk("xgb", X, y, str(tmp_path / "a"))
    _, moved = walk("xgb", X, shifted, str(tmp_path / "s"), horizon=4)
    assert oos_balanced_accuracy(aligned, y) >= 0.8
    assert oos_balanced_accuracy(moved[:-3], shifted[:-3]) < 0.45
