"""Scoring on shared bars: controls, a planted signal, paired differences, the variants' weights."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.evaluation.runner import DESIGN_WEIGHTS, _controls, combine, member_variants
from btedge.evaluation.scoring import Prediction, Scorer, Truth, fold_priors
from btedge.models.labels import LabelSpec, make_labels

N, H = 1200, 3


@pytest.fixture(scope="module")
def truth():
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
    open_ = np.concatenate([[100.0], close[:-1]])
    labels = make_labels(close, close, close, LabelSpec(H, 0.5, "fixed"))
    realised = np.full(N, np.nan)
    realised[: N - H - 1] = open_[H + 1:] / open_[1: N - H] - 1
    bounds = [400, 800]
    prior, weight = fold_priors(labels, bounds, [(0, 396), (400, 796)], N, 400)
    oos = np.arange(N) >= 400
    return Truth(labels, realised, open_, prior, weight, oos, 252.0, H)


def test_fold_priors_come_from_the_training_window(truth):
    lab = truth.labels[400:796]
    counts = np.bincount(lab[np.isfinite(lab)].astype(int), minlength=3) + 1.0
    assert truth.prior[800] == pytest.approx(counts / counts.sum())
    assert np.isnan(truth.prior[:400]).all()


def test_a_planted_signal_beats_the_controls_and_the_difference_is_paired(truth):
    scored = truth.oos & np.isfinite(truth.labels) & np.isfinite(truth.realised)
    # the planted forecast knows the sign of the next-open return (a lookahead no model has)
    side = np.sign(np.nan_to_num(truth.realised))
    planted = Prediction(side, np.ones(N), np.nan_to_num(truth.realised))
    scorer = Scorer(truth, scored, n_boot=100)
    configs = [scorer.add("planted", [planted])]
    configs += [scorer.add(name, [p]) for name, p in _controls(truth).items()]
    scorer.paired("planted", "class prior")
    out = scorer.finish(configs)
    planted_cfg, prior_cfg = configs[0], configs[1]
    assert planted_cfg.intervals["ic"].value == pytest.approx(1.0)
    assert planted_cfg.intervals["sharpe"].low > 5
    assert prior_cfg.intervals["balanced_accuracy"].value == pytest.approx(1 / 3)
    assert prior_cfg.intervals["ll_gain"].value == 0.0
    assert "ll_gain_corrected" not in prior_cfg.intervals  # the prior was not trained with class weights
    diff = out["planted - class prior|balanced_accuracy"]
    assert diff.low > 0.1 and diff.n == scored.sum()


def test_variants_weights():
    kinds = ["lstm", "lstm", "cnn", "cnn", "tcn", "tcn", "xgb"]
    v = member_variants(kinds)
    fixed = v["ensemble (design's fixed weights)"]
    assert fixed.tolist() == [0.1, 0.1, 0.15, 0.15, 0.25, 0.25, 0.0]
    assert set(DESIGN_WEIGHTS) | {"xgb"} == {k.split()[0] for k in v if k.endswith("alone")}
    assert "ensemble (design's fixed weights)" not in member_variants(["cnn", "xgb"])
    probs = np.random.default_rng(0).dirichlet(np.ones(3), size=(5, 7))
    assert combine(probs, v["xgb alone"]) == pytest.approx(probs[:, 6])
