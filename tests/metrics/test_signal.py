"""btedge.metrics.signal against scikit-learn / scipy references and hand-made cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn import metrics as skm

from btedge.metrics import signal as sig


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(7)
    n = 600
    y = rng.choice(3, size=n, p=[0.3, 0.45, 0.25])
    logits = rng.normal(size=(n, 3))
    logits[np.arange(n), y] += 0.6  # a weak, real signal
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, proba


def test_balanced_accuracy_matches_sklearn(sample):
    y, proba = sample
    pred = proba.argmax(axis=1)
    assert sig.balanced_accuracy(y, pred) == pytest.approx(skm.balanced_accuracy_score(y, pred), abs=1e-12)


def test_balanced_accuracy_of_a_constant_is_one_over_classes(sample):
    y, _ = sample
    assert sig.balanced_accuracy(y, np.ones_like(y)) == pytest.approx(1 / 3)


def test_log_loss_matches_sklearn_raw_and_weighted(sample):
    y, proba = sample
    assert sig.log_loss(y, proba) == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]), abs=1e-12)
    w = sig.balanced_weights(y)
    ref = skm.log_loss(y, proba, labels=[0, 1, 2], sample_weight=w[y])
    assert sig.log_loss(y, proba, w) == pytest.approx(ref, abs=1e-12)


def test_balanced_weights_give_each_class_equal_total(sample):
    y, _ = sample
    w = sig.balanced_weights(y)
    totals = np.bincount(y, weights=w[y])
    assert totals == pytest.approx(np.full(3, totals[0]))
    assert w.mean() == pytest.approx(1.0)


def test_prior_shift_undoes_class_weighting():
    p = np.array([[0.2, 0.5, 0.3]])
    w = np.array([2.0, 0.5, 1.0])
    tilted = p * w / (p * w).sum()
    assert sig.prior_shift(tilted, w) == pytest.approx(p)


def test_per_class_auc_matches_sklearn_one_vs_rest(sample):
    y, proba = sample
    got = sig.per_class_auc(y, proba)
    for k in range(3):
        assert got[k] == pytest.approx(skm.roc_auc_score(y == k, proba[:, k]), abs=1e-12)
    assert math.isnan(sig.per_class_auc(np.zeros(5, int), proba[:5])[0])  # no negatives for class 0


def test_information_coefficient_is_scipy_spearman():
    rng = np.random.default_rng(1)
    score = rng.normal(size=300)
    realised = 0.1 * score + rng.normal(size=300)
    realised[::7] = realised[0]  # ties
    assert sig.information_coefficient(score, realised) == pytest.approx(
        sps.spearmanr(score, realised).statistic, abs=1e-12)
    assert math.isnan(sig.information_coefficient(np.ones(10), realised[:10]))


def test_forward_open_return_starts_at_next_open():
    o = np.array([10.0, 11.0, 12.0, 13.2, 14.0])
    got = sig.forward_open_return(o, horizon=2)
    assert got[0] == pytest.approx(13.2 / 11.0 - 1) and got[1] == pytest.approx(14.0 / 12.0 - 1)
    assert np.isnan(got[2:]).all()


def test_brier_matches_sklearn_multiclass(sample):
    y, proba = sample
    ref = skm.brier_score_loss(y, proba, labels=[0, 1, 2], scale_by_half=False)
    assert sig.brier_score(y, proba) == pytest.approx(ref, abs=1e-12)


def test_ece_by_hand():
    y = np.array([2, 2, 0, 1])
    proba = np.array([[0.1, 0.1, 0.8], [0.1, 0.15, 0.75], [0.6, 0.3, 0.1], [0.55, 0.35, 0.1]])
    # bin 7: conf .75 right -> |1 - .75|; bin 8: .8 right -> .2; bin 6: .6 right -> .4; bin 5: .55 wrong -> .55
    assert sig.expected_calibration_error(y, proba) == pytest.approx((0.25 + 0.2 + 0.4 + 0.55) / 4)
    perfect = np.eye(3)[y]
    assert sig.expected_calibration_error(y, perfect) == 0.0


def test_confidence_quantiles_order_and_sign():
    conf = np.linspace(0.34, 0.9, 100)
    side = np.where(np.arange(100) % 2, 1.0, -1.0)
    side[::10] = 0.0  # no call: left out
    realised = side * conf  # higher confidence, larger signed return
    groups = sig.confidence_quantiles(side, conf, realised, n_groups=5)
    assert [g["n"] for g in groups] == [18] * 5
    means = [g["mean_signed_return"] for g in groups]
    assert means == sorted(means) and all(g["hit_rate"] == 1.0 for g in groups)


def test_causal_prior_uses_only_known_labels():
    labels = np.array([2, 2, 0, np.nan, 1, 1])
    prior = sig.causal_prior(labels, horizon=2)
    assert prior[0] == pytest.approx([1 / 3] * 3) and prior[1] == pytest.approx([1 / 3] * 3)
    assert prior[2] == pytest.approx([1 / 4, 1 / 4, 2 / 4])  # knows label 0 only
    assert prior[5] == pytest.approx([2 / 6, 1 / 6, 3 / 6])  # knows labels 0..3 (3 is NaN)
    # truncation: the prior at t does not change when later labels change
    changed = labels.copy()
    changed[4:] = 0
    assert sig.causal_prior(changed, 2)[:5] == pytest.approx(prior[:5])


def test_nan_labels_are_refused():
    with pytest.raises(ValueError, match="drop unscored bars"):
        sig.balanced_accuracy(np.array([0, np.nan]), np.array([0, 1]))
