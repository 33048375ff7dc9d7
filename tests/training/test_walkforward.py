"""Walk-forward schedule, label embargo, train-slice scaler, cache keys and manifests."""
from __future__ import annotations

import json

import numpy as np
import pytest

from btedge.models.features import FeatureSpec, build_features
from btedge.models.labels import LabelSpec, make_labels
from btedge.models.spec import ModelSpec, parse_members
from btedge.training.cache import ModelCache, cache_key, fingerprint
from btedge.training.schedule import Schedule
from btedge.training.walkforward import WalkForward
from tests.support.btc import arrays, btc


def test_fold_boundaries_and_train_ranges():
    s = Schedule(train_bars=100, retrain_every=30, horizon=4)
    assert s.boundaries(200) == [100, 130, 160, 190]
    assert s.gap == 5
    assert [s.boundary_at(t) for t in (99, 100, 129, 130, 199)] == [None, 100, 100, 130, 190]
    f = s.fold(160)
    assert (f.train_start, f.train_stop) == (0, 155)
    slide = Schedule(100, 30, horizon=4, window="sliding", embargo=8).fold(160)
    assert (slide.train_start, slide.train_stop) == (60, 152)
    with pytest.raises(ValueError, match="not a fold boundary"):
        s.fold(150)


@pytest.mark.parametrize("kw, match", [
    ({"embargo": 3}, "embargo must be >= horizon \\+ 1"),
    ({"retrain_every": 0}, "retrain_every"),
    ({"train_bars": 4}, "train_bars must be > embargo"),
    ({"window": "rolling"}, "window must be one of"),
])
def test_schedule_validation(kw, match):
    args = {"train_bars": 100, "retrain_every": 10, "horizon": 3, **kw}
    with pytest.raises(ValueError, match=match):
        Schedule(**args)


def _setup(tmp_path, kind="xgb", window="expanding"):
    a = arrays(btc(500))
    feats = build_features(*a)
    lspec = LabelSpec(horizon=5)
    labels = make_labels(a[1], a[2], a[3], lspec)
    sched = Schedule(300, 100, horizon=5, window=window)
    wf = WalkForward(sched, ModelSpec(kind=kind, seq_len=8, epochs=1, n_estimators=5), ModelCache(tmp_path),
                     FeatureSpec().key(), lspec.key(), min_samples=50)
    return wf, feats, labels


def test_labels_enter_training_only_after_their_horizon(tmp_path):
    wf, feats, labels = _setup(tmp_path)
    known = wf.known_labels(300, labels)
    assert np.isnan(known[295:]).all() and np.isfinite(known[100:295]).all()
    rows = wf.sample_rows(wf.schedule.fold(300), feats, known)
    assert rows.max() == 293  # train_stop = 300 - (horizon + 1) = 294, exclusive
    assert rows.max() + 5 < 300  # every label's horizon ended before the boundary


def test_future_poison_does_not_change_the_fold_model(tmp_path):
    """Poisoning features and labels from the embargo on gives the same cache key and model."""
    wf, feats, labels = _setup(tmp_path)
    fitted = wf.fitted(300, feats, labels)
    poisoned_f, poisoned_l = feats.copy(), labels.copy()
    poisoned_f[294:] = 1e6
    poisoned_l[294:] = 2.0
    wf2, _, _ = _setup(tmp_path / "other")
    again = wf2.fitted(300, poisoned_f, poisoned_l)
    assert again.meta["key"] == fitted.meta["key"]
    np.testing.assert_array_equal(again.mean, fitted.mean)
    np.testing.assert_array_equal(again.std, fitted.std)


def test_scaler_is_fitted_on_the_training_slice_only(tmp_path):
    wf, feats, labels = _setup(tmp_path, window="sliding")
    fold = wf.schedule.fold(400)
    mean, std = wf.scaler(fold, feats)
    block = feats[fold.train_start:fold.train_stop]
    block = block[np.isfinite(block).all(axis=1)]
    np.testing.assert_allclose(mean, block.mean(axis=0))
    assert not np.allclose(mean, np.nanmean(feats, axis=0))


def test_cache_hit_skips_training_and_manifest_lists_folds(tmp_path, monkeypatch):
    wf, feats, labels = _setup(tmp_path)
    first = [wf.fitted(b, feats, labels) for b in (300, 400)]
    wf2, _, _ = _setup(tmp_path)
    monkeypatch.setattr(WalkForward, "_train", lambda *a, **k: pytest.fail("retrained despite cache"))
    second = [wf2.fitted(b, feats, labels) for b in (300, 400)]
    assert [f.meta["key"] for f in first] == [f.meta["key"] for f in second]
    manifest = json.loads(wf2.manifest.path.read_text())
    assert [f["boundary"] for f in manifest["folds"]] == [300, 400]
    assert manifest["params"]["model"]["kind"] == "xgb"


def test_cache_key_depends_on_params_fold_and_data():
    fp = fingerprint(np.arange(5.0))
    base = cache_key({"a": 1}, 10, fp)
    assert base != cache_key({"a": 2}, 10, fp)
    assert base != cache_key({"a": 1}, 11, fp)
    assert base != cache_key({"a": 1}, 10, fingerprint(np.arange(5.0) + 1e-12))


def test_too_few_samples_skips_the_fold(tmp_path):
    wf, feats, labels = _setup(tmp_path)
    wf.min_samples = 10_000
    assert wf.fitted(300, feats, labels) is None


def test_parse_members():
    specs = parse_members("lstm,lstm,cnn:7,xgb", seq_len=8)
    assert [(s.kind, s.seed) for s in specs] == [("lstm", 0), ("lstm", 1), ("cnn", 7), ("xgb", 0)]
    with pytest.raises(ValueError, match="kind must be one of"):
        parse_members("lstm,gru")


def test_cache_key_changes_with_the_model_code_and_library_versions(tmp_path, monkeypatch):
    from btedge.training import walkforward

    wf, feats, labels = _setup(tmp_path)
    base = wf.fitted(300, feats, labels).meta["key"]
    assert wf.params["code"]["btedge.models"] == walkforward.MODEL_CODE_VERSION
    assert set(wf.params["code"]) >= {"torch", "xgboost", "scikit-learn"}
    monkeypatch.setattr(walkforward, "library_versions", lambda: {"torch": "0.0", "xgboost": "0", "scikit-learn": "0"})
    assert _setup(tmp_path)[0].fitted(300, feats, labels).meta["key"] != base
    monkeypatch.undo()
    monkeypatch.setattr(walkforward, "MODEL_CODE_VERSION", walkforward.MODEL_CODE_VERSION + 1)
    assert _setup(tmp_path)[0].fitted(300, feats, labels).meta["key"] != base
