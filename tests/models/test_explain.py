"""Explanations: TreeSHAP additivity, integrated-gradient completeness, the planted feature
ranks first, randomised models explain differently, reliability heatmap."""
from __future__ import annotations

import numpy as np
import pytest

from btedge.models.explain import (
    completeness_gap,
    feature_importance,
    integrated_gradients,
    member_forward,
    plot_reliability,
    randomisation_check,
    reliability_grid,
    xgb_contributions,
    xgb_margin,
)
from btedge.models.spec import ModelSpec, build_model

F, L, PLANTED = 6, 8, 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n: int = 600, seed: int = 0):
    X = np.random.default_rng(seed).standard_normal((n, L, F))
    z = X[:, -1, PLANTED]
    return X, np.where(z > 0.5, 2, np.where(z < -0.5, 0, 1)).astype(float)


def _trained(kind: str, **kw):
    X, y = _data()
    model = build_model(ModelSpec(kind=kind, seq_len=L, hidden=8, epochs=15, **kw), F)
    model.fit(X, y, X[:0], y[:0])
    return model, X, y


def test_treeshap_contributions_add_up_to_the_margin():
    model, X, _ = _trained("xgb")
    contrib = xgb_contributions(model.booster, X[:100, -1, :])
    assert contrib.shape == (100, 3, F + 1)
    np.testing.assert_allclose(contrib.sum(axis=2), xgb_margin(model.booster, X[:100, -1, :]), atol=1e-5)


@pytest.mark.parametrize("kind", [pytest.param("cnn", marks=pytest.mark.slow), "s4d", "kan"])
def test_integrated_gradients_are_complete_and_find_the_planted_feature(kind):
    model, X, y = _trained(kind)
    forward = member_forward(model)
    x, target = X[:6], model.predict(X[:6]).argmax(axis=1)
    attr = integrated_gradients(forward, x, target)
    assert attr.shape == x.shape
    assert completeness_gap(forward, x, attr, target).max() <= 1e-3
    assert feature_importance(model, X[:100]).argmax() == PLANTED


def test_xgb_importance_finds_the_planted_feature():
    model, X, _ = _trained("xgb")
    assert feature_importance(model, X[:200]).argmax() == PLANTED


@pytest.mark.parametrize("kind", ["xgb", "cnn"])
def test_randomised_model_attributions_do_not_resemble_the_trained_ones(kind):
    model, X, y = _trained(kind)
    assert randomisation_check(model, X[:200], y[:200]) < 0.5


def test_member_forward_refuses_a_non_torch_member():
    model, _, _ = _trained("xgb")
    with pytest.raises(ValueError, match="integrated gradients need a torch member"):
        member_forward(model)


def test_reliability_grid_counts_and_accuracy_and_heatmap(tmp_path):
    rng = np.random.default_rng(0)
    n = 2000
    proba = rng.dirichlet(np.ones(3) * 0.5, n)
    y = np.array([rng.choice(3, p=p) for p in proba]).astype(float)  # calibrated by construction
    vol = rng.random(n)
    grid = reliability_grid(y, proba, vol, n_vol=10, n_conf=5)
    assert grid["count"].sum() == n and grid["count"].shape == (10, 5)
    assert (grid["count"].sum(axis=1) == n // 10).all()
    both = grid["count"] >= 50
    assert np.abs(grid["gap"][both]).max() < 0.2
    path = plot_reliability(grid, tmp_path / "reliability.png", "calibrated by construction")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_fold_importance_table_has_one_normalised_row_per_trained_fold(tmp_path):
    from btedge.models.explain import fold_importance_table
    from tests.support.planted import planted_features, planted_labels, walk

    X = planted_features(900)
    y = planted_labels(X)
    wf, _ = walk("xgb", X, y, str(tmp_path), train_bars=500, every=200, n_estimators=30)
    folds = {b: wf.fitted(b, X, y) for b in (500, 700)}
    table = fold_importance_table(folds, X, [f"f{i}" for i in range(X.shape[1])], every=200)
    assert list(table.index) == [500, 700]
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    assert (table.idxmax(axis=1) == "f0").all()  # the planted score is x0 - 0.8 x1
