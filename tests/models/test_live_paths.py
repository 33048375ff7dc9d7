"""The live step's single-window paths give what the batch paths give: the XGBoost tree table
bit for bit (else it is not used), the numpy CNN to 1e-12, and the full ensemble
``s4d,kan,online,cnn,xgb`` in every engine mode without lookahead at its fold boundaries."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import xgboost as xgb

from btedge.indicators.ml import EnsembleSignal
from btedge.models import xgb_model
from btedge.models.spec import ModelSpec, build_model
from btedge.models.torch_models import CNN1D, NumpyCNN
from btedge.models.xgb_model import TreeTable
from btedge.testkit import assert_modes_agree, assert_no_lookahead
from tests.support.btc import btc

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _booster(depth: int, rounds: int, seed: int = 0) -> tuple[xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1500, 6))
    y = (x[:, 0] + 0.5 * x[:, 3] ** 2 + rng.standard_normal(1500) > 0.5).astype(int) + (x[:, 1] > 1)
    x[rng.random(x.shape) < 0.05] = np.nan  # missing values take the learned default child
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": depth, "eta": 0.3, "subsample": 0.8,
              "seed": seed, "nthread": 1, "tree_method": "hist"}
    return xgb.train(params, xgb.DMatrix(x, label=y), rounds), x


@pytest.mark.parametrize(("depth", "rounds"), [(3, 60), (6, 20)])
def test_tree_table_gives_inplace_predicts_bits(depth, rounds):
    booster, x = _booster(depth, rounds)
    table = TreeTable.from_booster(booster, x.shape[1])
    assert table is not None and table.depth == depth
    rows = np.concatenate([x[:400], np.random.default_rng(1).standard_normal((400, 6)) * 3.0])
    want = booster.inplace_predict(rows)
    got = np.stack([table.predict_row(r) for r in rows])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_member_single_rows_equal_its_batch_after_a_reload(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 1, 5))
    y = (X[:, 0, 0] > 0).astype(int) + (X[:, 0, 1] > 0.5)
    model = build_model(ModelSpec(kind="xgb", n_estimators=40), 5)
    model.fit(X[:500], y[:500], X[500:], y[500:])
    model.save(tmp_path)
    loaded = build_model(ModelSpec(kind="xgb", n_estimators=40), 5)
    loaded.load(tmp_path)
    for m in (model, loaded):
        batch = m.predict(X)
        single = np.concatenate([m.predict(X[i : i + 1]) for i in range(len(X))])
        assert isinstance(m._table, TreeTable)
        np.testing.assert_array_equal(single, batch)


def test_a_table_that_differs_is_not_used(monkeypatch, caplog):
    booster, x = _booster(3, 20)
    monkeypatch.setattr(xgb_model, "_EXPF", lambda v: np.float32(np.exp(v) * (1 + 1e-5)))
    with caplog.at_level(logging.WARNING, logger="btedge.models.xgb_model"):
        assert TreeTable.from_booster(booster, x.shape[1]) is None
    assert "differs from inplace_predict" in caplog.text
    model = build_model(ModelSpec(kind="xgb"), 6)
    model.booster = booster
    np.testing.assert_array_equal(model.predict(x[:1, None, :]), booster.inplace_predict(x[:1]).astype(np.float64))
    assert model._table is None


def test_models_the_table_does_not_cover_are_refused():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 4))
    binary = xgb.train({"objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(x, label=x[:, 0] > 0), 5)
    assert TreeTable.from_booster(binary, 4) is None
    forest = xgb.train({"objective": "multi:softprob", "num_class": 3, "num_parallel_tree": 2, "nthread": 1},
                       xgb.DMatrix(x, label=(x[:, 0] > 0) + (x[:, 1] > 0)), 3)
    assert TreeTable.from_booster(forest, 4) is None


def test_numpy_cnn_equals_the_float64_torch_net():
    torch.manual_seed(0)
    net = CNN1D(7, 8, 2).double().eval()
    windows = np.random.default_rng(0).standard_normal((50, 12, 7))
    with torch.no_grad():
        want = net(torch.as_tensor(windows)).numpy()
    got = np.stack([NumpyCNN(net).logits(w) for w in windows])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    model = build_model(ModelSpec(kind="cnn", seq_len=12, hidden=8), 7)
    batch = model.predict(windows)
    single = np.concatenate([model.predict(windows[i : i + 1]) for i in range(len(windows))])
    np.testing.assert_allclose(single, batch, rtol=0, atol=1e-12)


SMALL = dict(train_bars=300, retrain_every=100, seq_len=12, hidden=4, epochs=2, min_samples=50)


def full_ensemble(cache):
    return lambda s: EnsembleSignal(s.data, members="s4d,kan,online,cnn,xgb", cache_dir=str(cache), **SMALL)


@pytest.mark.slow
def test_full_ensemble_modes_agree_and_no_lookahead_in_next(tmp_path):
    lines = assert_modes_agree(btc(500), full_ensemble(tmp_path))
    assert np.isnan(lines["p_long"][:300]).all() and np.isfinite(lines["p_long"][300:]).all()
    assert_no_lookahead(btc(500), full_ensemble(tmp_path), cuts=[300, 301, 302, 401], mode="next")
