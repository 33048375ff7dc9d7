"""On-disk model cache and run manifests (no backtrader import).

A fold's model lives in ``<root>/<key>/`` where ``key`` hashes (model params, feature set, label
spec, fingerprint of the exact training data, fold end). Both engine modes and every re-run
therefore find the same files and never retrain. Each directory holds the model file
(``model.pt`` state_dict, ``model.ubj`` xgboost, or ``train.npy`` for refit-on-load models) and
``meta.json`` (scaler, scores, sample counts). Nothing is pickled.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(".cache") / "btedge-models"  # /.cache/ is git-ignored


def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 over the shapes, dtypes and bytes of the arrays."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.shape}{a.dtype.str}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def cache_key(params: dict[str, Any], fold_end: int, data_fingerprint: str) -> str:
    """Key of one fold's model: params (JSON, sorted), fold end and training-data fingerprint."""
    blob = json.dumps({"params": params, "fold_end": int(fold_end), "data": data_fingerprint}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


class ModelCache:
    """Directory of fold models keyed by :func:`cache_key`."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root else DEFAULT_CACHE_DIR
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.folder(key) / "meta.json").is_file()

    def read_meta(self, key: str) -> dict[str, Any]:
        path = self.folder(key) / "meta.json"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: unreadable model metadata ({exc}); delete the folder to retrain") from None

    def write_meta(self, key: str, meta: dict[str, Any]) -> None:
        """Written last: a folder without ``meta.json`` counts as absent (interrupted training)."""
        _atomic_write_text(self.folder(key) / "meta.json", json.dumps(meta, indent=1, sort_keys=True))

    def new_folder(self, key: str) -> Path:
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        return folder


class Manifest:
    """Per-run record of the folds used: ``<root>/manifest-<run>.json``, rewritten on each fold."""

    def __init__(self, cache: ModelCache, run: str, params: dict[str, Any]) -> None:
        self.path = cache.root / f"manifest-{run}.json"
        self.params = params
        self.folds: dict[int, dict[str, Any]] = {}

    def add(self, boundary: int, record: dict[str, Any]) -> None:
        if self.folds.get(boundary) == record:
            return
        self.folds[boundary] = record
        body = {"params": self.params, "folds": [self.folds[b] for b in sorted(self.folds)]}
        _atomic_write_text(self.path, json.dumps(body, indent=1, sort_keys=True))

    @staticmethod
    def read(path: str | os.PathLike) -> dict[str, Any]:
        return json.loads(Path(path).read_text())
