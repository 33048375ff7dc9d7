"""Model save/load round trips, determinism with a seed, refusal to unpickle, TCN causality."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.ensemble import IsolationForest

from btedge.models.anomaly import ForestScorer
from btedge.models.persist import UnsafeModelFile, load_state_dict
from btedge.models.spec import ModelSpec, build_model
from btedge.models.torch_models import TCN

KINDS = ("cnn", "lstm", "tcn", "cnn_lstm", "xgb", "iforest", "lagnet")


def _data(n=160, seq=8, f=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, seq, f))
    y = (X[:, -1, 0] > 0.3).astype(float) + (X[:, -1, 0] > -0.3)  # classes 0/1/2 from the last bar
    return X, y


def _fit(kind, seed=0):
    X, y = _data()
    spec = ModelSpec(kind=kind, seed=seed, seq_len=8, hidden=8, epochs=2, n_estimators=10, max_lag=8)
    model = build_model(spec, X.shape[2])
    target = X[:, -1, 1] * 0.01 if kind == "lagnet" else (None if kind == "iforest" else y)
    model.fit(X, target, X[:0], target[:0] if target is not None else None)
    return spec, model, X


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(kind, tmp_path):
    spec, model, X = _fit(kind)
    model.save(tmp_path)
    loaded = build_model(spec, X.shape[2])
    loaded.load(tmp_path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if kind == "lagnet":
        lags = np.full(len(X), 3)
        np.testing.assert_array_equal(loaded.forecast(X, lags), model.forecast(X, lags))


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_model_other_seed_differs(kind):
    _, a, X = _fit(kind, seed=1)
    _, b, _ = _fit(kind, seed=1)
    _, c, _ = _fit(kind, seed=2)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.predict(X), c.predict(X))


@pytest.mark.parametrize("kind", ("cnn", "tcn", "lstm", "cnn_lstm", "xgb"))
def test_classifier_outputs_are_probabilities_and_learn_signal(kind):
    _, model, X = _fit(kind)
    p = model.predict(X)
    assert p.shape == (len(X), 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert (p >= 0).all()


class Payload:  # any non-tensor object: pickled by torch.save, refused by weights_only
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_pickled_object_in_pt_file_is_refused(tmp_path, capsys):
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(2), "evil": Payload()}, path)
    with pytest.raises(UnsafeModelFile, match="refused to load.*pickled Python objects.*delete the folder"):
        load_state_dict(path)
    assert "must never run" not in capsys.readouterr().out
    with open(tmp_path / "plain.pt", "wb") as fh:
        pickle.dump(Payload(), fh)
    with pytest.raises(UnsafeModelFile):
        load_state_dict(tmp_path / "plain.pt")


def test_torch_model_load_refuses_pickle(tmp_path):
    spec, _, X = _fit("cnn")
    torch.save(Payload(), tmp_path / "model.pt")
    with pytest.raises(UnsafeModelFile):
        build_model(spec, X.shape[2]).load(tmp_path)


def test_tcn_is_causal_and_reads_the_last_step():
    torch.manual_seed(0)
    net = TCN(3, 8, levels=3).double().eval()
    x = torch.randn(1, 20, 3, dtype=torch.float64)
    y = torch.randn(1, 20, 3, dtype=torch.float64)
    y[:, :12] = x[:, :12]
    with torch.no_grad():
        fx = net.blocks(x.transpose(1, 2))
        fy = net.blocks(y.transpose(1, 2))
    torch.testing.assert_close(fx[:, :, :12], fy[:, :, :12])  # outputs up to step 11 ignore later steps
    assert not torch.allclose(fx[:, :, -1], fy[:, :, -1])


def test_forest_scorer_equals_sklearn():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 4))
    forest = IsolationForest(n_estimators=50, random_state=0, n_jobs=1).fit(X)
    np.testing.assert_allclose(ForestScorer(forest).score(X), -forest.score_samples(X), atol=1e-12)


def test_model_spec_validation():
    with pytest.raises(ValueError, match="kind must be one of"):
        ModelSpec(kind="transformer")
    with pytest.raises(ValueError, match="max_lag must be in"):
        ModelSpec(kind="lagnet", seq_len=8, max_lag=9)


def test_cnn_is_causal_and_reads_the_last_step():
    from btedge.models.torch_models import CNN1D

    torch.manual_seed(0)
    net = CNN1D(3, 8, layers=2).double().eval()
    x = torch.randn(1, 20, 3, dtype=torch.float64)
    y = x.clone()
    y[:, 15:] += 1.0
    with torch.no_grad():
        fx, fy = net.conv(x.transpose(1, 2)), net.conv(y.transpose(1, 2))
        torch.testing.assert_close(fx[:, :, :15], fy[:, :, :15])  # steps before 15 ignore later ones
        z = x.clone()
        z[:, -1] += 1.0  # only the newest step changes: the output must move (no mean-pool blur)
        assert not torch.allclose(net(x), net(z))
