"""Every cache problem is one clear error naming the path and the fix, never a raw library error."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from btedge.models.persist import ModelFileError
from btedge.models.spec import ModelSpec
from btedge.training.cache import DataIdentity, ModelCache, ModelCacheError
from btedge.training.schedule import Schedule
from btedge.training.walkforward import WalkForward

torch.set_num_threads(1)
MODEL_FILE = {"xgb": "model.ubj", "cnn": "model.pt", "lagnet": "model.pt", "iforest": "train.npy"}


def planted(n=400, f=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, f))
    y = np.where(X[:, 0] > 0.5, 2.0, np.where(X[:, 0] < -0.5, 0.0, 1.0))
    return X, y


def walker(root, kind="xgb", data=None) -> WalkForward:
    spec = ModelSpec(kind=kind, seq_len=4, hidden=4, epochs=2, n_estimators=5, max_lag=4)
    label_key = None if kind == "iforest" else {"planted": 1}
    return WalkForward(Schedule(300, 100, horizon=1), spec, ModelCache(root), {"f": 4}, label_key,
                       min_samples=50, data=data)


def train(root, kind="xgb", data=None) -> WalkForward:
    X, y = planted()
    wf = walker(root, kind, data)
    target = X[:, 1] * 0.01 if kind == "lagnet" else y
    assert wf.fitted(300, X, None if kind == "iforest" else target, np.arange(400.0)) is not None
    return wf


def reload(root, kind="xgb"):
    X, y = planted()
    target = X[:, 1] * 0.01 if kind == "lagnet" else y
    return walker(root, kind).fitted(300, X, None if kind == "iforest" else target, np.arange(400.0))


def fold_folder(root: Path) -> Path:
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    return folder


def test_cache_dir_that_is_a_file(tmp_path):
    path = tmp_path / "models"
    path.write_text("not a folder")
    with pytest.raises(ModelCacheError, match=f"cache_dir {path} is a file.*pass another cache_dir"):
        ModelCache(path)


def test_file_where_a_fold_folder_should_be(tmp_path):
    train(tmp_path)
    folder = fold_folder(tmp_path)
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    folder.write_text("x")
    with pytest.raises(ModelCacheError, match=f"{folder}: a file where a fold's model folder should be; delete it"):
        reload(tmp_path)


def test_read_only_cache(tmp_path, monkeypatch):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    if os.geteuid() == 0:  # root writes anyway: make the writes fail as they would for a user
        real = Path.mkdir

        def denied(self, *a, **k):
            if self != root:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *a, **k)

        monkeypatch.setattr(Path, "mkdir", denied)
    try:
        with pytest.raises(ModelCacheError, match=f"cannot write {root}/.*Permission denied.*make {root} writable, "
                                                  "or pass another cache_dir"):
            train(root)
    finally:
        root.chmod(0o700)


@pytest.mark.parametrize("text, match", [
    ("{}", "model metadata without key, boundary"),
    ("{not json", "unreadable model metadata"),
    ("", "unreadable model metadata"),
])
def test_empty_or_corrupt_meta_json(tmp_path, text, match):
    train(tmp_path)
    meta = fold_folder(tmp_path) / "meta.json"
    meta.write_text(text)
    with pytest.raises(ModelCacheError, match=f"{meta}: {match}.*delete the folder {meta.parent} to retrain"):
        reload(tmp_path)


@pytest.mark.parametrize("kind", list(MODEL_FILE))
@pytest.mark.parametrize("garbage", [b"garbage bytes, not a model", b""])
def test_garbage_model_file(tmp_path, kind, garbage):
    train(tmp_path, kind)
    path = fold_folder(tmp_path) / MODEL_FILE[kind]
    path.write_bytes(garbage)
    with pytest.raises(ModelFileError) as err:
        reload(tmp_path, kind)
    message = str(err.value)
    assert str(path) in message and f"delete the folder {path.parent} to retrain" in message
    assert "corrupt or truncated" in message and "pickled" not in message


def test_model_file_of_another_architecture(tmp_path):
    train(tmp_path, "cnn")
    path = fold_folder(tmp_path) / "model.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(ModelFileError, match="another architecture or size.*delete the folder"):
        reload(tmp_path, "cnn")


class Thing:  # a Python object: pickled by torch.save, refused by weights_only
    pass


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_pickled_model_file_is_still_called_unsafe(tmp_path):
    train(tmp_path, "cnn")
    path = fold_folder(tmp_path) / "model.pt"
    torch.save({"weight": torch.zeros(2), "obj": Thing()}, path)
    with pytest.raises(ModelFileError, match="pickled Python objects"):
        reload(tmp_path, "cnn")


@pytest.mark.parametrize("text, match", [
    ("{oops", "unreadable manifest"), ("{}", "broken manifest"), ('{"folds": [{"x": 1}]}', "broken manifest"),
])
def test_broken_manifest(tmp_path, text, match):
    data = DataIdentity("BTC", "1 Minute")
    wf = train(tmp_path, data=data)
    wf.manifest.path.write_text(text)
    with pytest.raises(ModelCacheError, match=f"{wf.manifest.path}: {match}.*delete .*manifest"):
        walker(tmp_path, data=data).latest()


def test_manifest_records_merge_and_carry_the_training_end(tmp_path):
    data = DataIdentity("BTC", "1 Minute")
    wf = train(tmp_path, data=data)
    body = json.loads(wf.manifest.path.read_text())
    assert body["data"] == data.key()
    assert [(f["boundary"], f["train_end_time"]) for f in body["folds"]] == [(300, 299.0)]


def test_manifest_listing_a_deleted_fold(tmp_path):
    import shutil

    data = DataIdentity("BTC", "1 Minute")
    wf = train(tmp_path, data=data)
    shutil.rmtree(fold_folder(tmp_path))
    with pytest.raises(ModelCacheError, match="lists the fold at bar 300, but .* holds no model: run the backtest again"):
        walker(tmp_path, data=data).latest()
    assert wf.manifest.path.is_file()
