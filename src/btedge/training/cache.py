"""On-disk model cache and run manifests (no backtrader import).

A fold's model lives in ``<root>/<key>/`` where ``key`` hashes (model params, feature set, label
spec, the model code's version and the torch / xgboost / scikit-learn versions, fingerprint of
the exact training data, fold end). Both engine modes and every re-run therefore find the same
files and never retrain, and a change of code or library never returns an old model. Each
directory holds the model file (``model.pt`` state_dict, ``model.ubj`` xgboost, or ``train.npy``
for refit-on-load models) and ``meta.json`` (scaler, scores, sample counts). Nothing is pickled.

A manifest (``<root>/manifest-<hash>.json``) lists the folds trained for one set of params on
one :class:`DataIdentity` (symbol, timeframe, fingerprint); runs merge into it, so a later,
shorter run never hides the newer folds of an earlier, longer one. ``pretrained`` reads it.

Every problem with the cache (a file where the folder should be, a read-only folder, a corrupt
``meta.json`` or manifest) is one :class:`ModelCacheError` naming the path and the fix.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(".cache") / "btedge-models"  # /.cache/ is git-ignored
#: Libraries whose versions enter every cache key.
KEY_LIBRARIES = ("torch", "xgboost", "scikit-learn", "numpy")
#: Keys every fold's ``meta.json`` must hold.
META_KEYS = ("key", "boundary", "n_train", "n_val", "scaler_mean", "scaler_std", "n_features")


class ModelCacheError(ValueError):
    """The model cache cannot be used as it is; the message names the path and the fix."""


def resolve_cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    """The one meaning of ``cache_dir`` in btedge: '' or None = :data:`DEFAULT_CACHE_DIR`."""
    return Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    out = []
    for name in KEY_LIBRARIES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "absent"))
    return tuple(out)


def library_versions() -> dict[str, str]:
    """{library: installed version} for :data:`KEY_LIBRARIES` ('absent' when not installed)."""
    return dict(_versions())


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


def _unwritable(path: Path, root: Path, exc: OSError) -> ModelCacheError:
    return ModelCacheError(
        f"model cache: cannot write {path} ({getattr(exc, 'strerror', None) or str(exc).splitlines()[0]}); "
        f"make {root} writable, "
        f"or pass another cache_dir"
    )


def _atomic_write_text(path: Path, text: str, root: Path) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise _unwritable(path, root, exc) from None


def read_json(path: Path, what: str, fix: str) -> Any:
    """JSON from ``path``; unreadable or invalid JSON is a ModelCacheError with ``fix``."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise ModelCacheError(f"{path}: unreadable {what} ({reason}); {fix}") from None


class ModelCache:
    """Directory of fold models keyed by :func:`cache_key`."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = resolve_cache_dir(root)
        if self.root.exists() and not self.root.is_dir():
            raise ModelCacheError(f"cache_dir {self.root} is a file, not a folder: pass another cache_dir "
                                  f"(or move the file away)")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelCacheError(f"cache_dir {self.root}: cannot create the folder ({exc.strerror or exc}); "
                                  f"pass another cache_dir") from None

    def folder(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        """A fold is cached when its folder holds ``meta.json`` (written last)."""
        folder = self.folder(key)
        if folder.exists() and not folder.is_dir():
            raise ModelCacheError(f"{folder}: a file where a fold's model folder should be; delete it to retrain "
                                  f"the fold, or pass another cache_dir")
        return (folder / "meta.json").is_file()

    def read_meta(self, key: str) -> dict[str, Any]:
        path = self.folder(key) / "meta.json"
        fix = f"delete the folder {path.parent} to retrain that fold (or pass another cache_dir)"
        meta = read_json(path, "model metadata", fix)
        missing = [k for k in META_KEYS if k not in meta] if isinstance(meta, dict) else list(META_KEYS)
        if missing:
            raise ModelCacheError(f"{path}: model metadata without {', '.join(missing)}; {fix}")
        return meta

    def write_meta(self, key: str, meta: dict[str, Any]) -> None:
        """Written last: a folder without ``meta.json`` counts as absent (interrupted training)."""
        _atomic_write_text(self.folder(key) / "meta.json", json.dumps(meta, indent=1, sort_keys=True), self.root)

    def new_folder(self, key: str) -> Path:
        folder = self.folder(key)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(folder, self.root, exc) from None
        return folder

    def write_model(self, key: str, save) -> Path:  # type: ignore[no-untyped-def]
        """``save(folder)`` into a new fold folder; an unwritable cache is a ModelCacheError."""
        folder = self.new_folder(key)
        try:
            save(folder)
        except (OSError, RuntimeError, ValueError) as exc:  # xgboost and torch wrap I/O errors
            raise _unwritable(folder, self.root, exc) from None
        return folder


@dataclass(frozen=True)
class DataIdentity:
    """Which data a run's folds belong to.

    ``symbol`` and ``timeframe`` (e.g. ``'SPY'``, ``'1 Minutes'``); ``fingerprint`` identifies an
    unnamed data by its first bar (empty for named datas, so a named data's later or live bars
    find the folds a backtest trained). Each fold in a manifest also records the fingerprint of
    its exact training data (its cache key).
    """

    symbol: str = ""
    timeframe: str = ""
    fingerprint: str = ""

    def key(self) -> dict[str, str]:
        return asdict(self)

    def describe(self) -> str:
        name = self.symbol or f"unnamed data (first bar {self.fingerprint[:12]})"
        return f"{name}, {self.timeframe or 'unknown timeframe'}"


class Manifest:
    """The folds trained for ``params`` on one data: ``<root>/manifest-<hash>.json``.

    Records are keyed by the fold's cache key (skipped folds by their boundary) and merged with
    the file on every write, never rewritten from one run's view.
    """

    def __init__(self, cache: ModelCache, params: dict[str, Any], data: DataIdentity) -> None:
        self.cache, self.params, self.data = cache, params, data
        blob = json.dumps({"params": params, "data": data.key()}, sort_keys=True)
        self.path = cache.root / f"manifest-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"
        self._written: dict[str, dict[str, Any]] = {}

    def add(self, record: dict[str, Any]) -> None:
        ident = record.get("key") or f"skipped-{record['boundary']}"
        if self._written.get(ident) == record:
            return
        folds = self.folds()
        folds[ident] = record
        ordered = sorted(folds.values(), key=lambda f: (f["boundary"], f.get("key", "")))
        body = {"params": self.params, "data": self.data.key(), "folds": ordered}
        _atomic_write_text(self.path, json.dumps(body, indent=1, sort_keys=True), self.cache.root)
        self._written[ident] = record

    def folds(self) -> dict[str, dict[str, Any]]:
        """{record id: record} from the file (empty when there is none)."""
        if not self.path.is_file():
            return {}
        body = self.read(self.path)
        return {f.get("key") or f"skipped-{f['boundary']}": f for f in body["folds"]}

    def newest(self) -> dict[str, Any] | None:
        """The trained fold whose training data ends last (by time, then by boundary)."""
        trained = [f for f in self.folds().values() if "key" in f]
        if not trained:
            return None
        return max(trained, key=lambda f: (f.get("train_end_time") or -np.inf, f["boundary"]))

    @staticmethod
    def read(path: str | os.PathLike) -> dict[str, Any]:
        path = Path(path)
        fix = f"delete {path} (the fold models stay cached; the next backtest writes it again)"
        body = read_json(path, "manifest", fix)
        folds = body.get("folds") if isinstance(body, dict) else None
        if not isinstance(folds, list) or not all(isinstance(f, dict) and "boundary" in f for f in folds):
            raise ModelCacheError(f"{path}: broken manifest (no list of folds); {fix}")
        return body

    def others(self) -> list[str]:
        """Descriptions of the datas that other manifests in the cache hold folds for, same params."""
        out = []
        for path in sorted(self.cache.root.glob("manifest-*.json")):
            if path == self.path:
                continue
            try:
                body = self.read(path)
            except ModelCacheError:
                continue
            data = body.get("data")
            if body.get("params") == self.params and isinstance(data, dict):
                out.append(DataIdentity(*(str(data.get(k, "")) for k in ("symbol", "timeframe", "fingerprint")))
                           .describe())
        return out
