"""Walk-forward training of one model spec over a :class:`Schedule` (no backtrader import).

For a fold boundary b, :meth:`WalkForward.fitted` builds the training set from the feature rows
before b and the labels whose horizon passed before b (labels at t >= b - horizon are masked
here, whatever the caller passed), fits the scaler on the training slice only, and returns the
model from the cache or trains it (then caches it). Validation is the chronologically last
``valid_frac`` of the training samples, purged by ``horizon`` bars; its accuracy (and that of the
training majority class) weights ensemble members.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from btedge.models.features import sequence_windows
from btedge.models.spec import ModelSpec, build_model
from btedge.training.cache import Manifest, ModelCache, cache_key, fingerprint
from btedge.training.schedule import Fold, Schedule

log = logging.getLogger(__name__)


@dataclass
class FittedFold:
    """A trained fold model with its training-slice scaler."""

    fold: Fold
    model: Any
    mean: np.ndarray
    std: np.ndarray
    meta: dict = field(default_factory=dict)

    def scale(self, windows: np.ndarray) -> np.ndarray:
        return (windows - self.mean) / self.std

    def predict(self, windows: np.ndarray, n_out: int) -> np.ndarray:
        """(m, n_out) outputs; rows whose window holds a NaN come back NaN."""
        ok = np.isfinite(windows).all(axis=(1, 2))
        out = np.full((len(windows), n_out), np.nan)
        if ok.any():
            out[ok] = self.model.predict(self.scale(windows[ok]))
        return out


class WalkForward:
    """Trains (or loads) ``spec`` at each fold boundary of ``schedule``.

    Args:
      schedule: fold boundaries, embargo and horizon
      spec: the model
      cache: where fold models live
      feature_key / label_key: descriptions of the feature set and labels (cache key); pass
        ``label_key=None`` for unsupervised models
      min_samples: folds with fewer valid training samples are skipped (no model, NaN output)
      valid_frac: share of training samples held out (at the end) for the validation score
      max_samples: keep only the most recent samples (0 = all)
    """

    def __init__(
        self, schedule: Schedule, spec: ModelSpec, cache: ModelCache, feature_key: dict,
        label_key: dict | None, min_samples: int = 100, valid_frac: float = 0.2, max_samples: int = 0,
    ) -> None:
        if not 0.0 <= valid_frac < 0.9:
            raise ValueError(f"valid_frac must be in [0, 0.9), got {valid_frac!r}")
        self.schedule, self.spec, self.cache = schedule, spec, cache
        self.supervised = label_key is not None
        self.min_samples, self.valid_frac, self.max_samples = int(min_samples), valid_frac, int(max_samples)
        s = schedule
        self.params = {
            "model": spec.key(), "features": feature_key, "labels": label_key,
            "schedule": {"train_bars": s.train_bars, "window": s.window, "gap": s.gap, "horizon": s.horizon},
            "min_samples": self.min_samples, "valid_frac": valid_frac, "max_samples": self.max_samples,
        }
        run = hashlib.sha256(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:12]
        self.manifest = Manifest(cache, run, self.params)
        self._memo: dict[int, FittedFold | None] = {}

    def fitted(self, boundary: int, features: np.ndarray, labels: np.ndarray | None) -> FittedFold | None:
        """The model scoring bars from ``boundary`` on (None if the fold has too few samples)."""
        if boundary not in self._memo:
            self._memo[boundary] = self._fit_or_load(boundary, features, labels)
        return self._memo[boundary]

    def latest(self) -> FittedFold:
        """The newest fold model recorded in this run's manifest, loaded without training (live).

        The manifest name depends only on the params, so a live process with the same params and
        cache directory finds the folds a backtest trained. Raises ``ValueError`` when there is none.
        """
        path = self.manifest.path
        folds = [f for f in (Manifest.read(path)["folds"] if path.is_file() else []) if "key" in f]
        if not folds:
            raise ValueError(
                f"no trained fold for these params in {path}: run a backtest with the same params and "
                f"cache_dir first (it trains and records the folds), then start live with pretrained=True"
            )
        key = folds[-1]["key"]
        meta = self.cache.read_meta(key)
        if "scaler_mean" not in meta:
            raise ValueError(f"{self.cache.folder(key)}: model metadata without scaler; delete it to retrain")
        model = build_model(self.spec, int(meta["n_features"]))
        model.load(self.cache.folder(key))
        fold = self.schedule.fold(int(meta["boundary"]))
        return FittedFold(fold, model, np.array(meta["scaler_mean"]), np.array(meta["scaler_std"]), meta)

    # -- training set ------------------------------------------------------------------------
    def known_labels(self, boundary: int, labels: np.ndarray | None) -> np.ndarray | None:
        """Labels before ``boundary`` whose horizon has passed; the rest NaN."""
        if labels is None:
            return None
        out = np.array(labels[:boundary], dtype=float)
        out[max(0, boundary - self.schedule.horizon):] = np.nan
        return out

    def sample_rows(self, fold: Fold, features: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        w = self.spec.window
        rows = np.arange(max(fold.train_start, w - 1), fold.train_stop)
        if rows.size == 0:
            return rows
        finite = np.isfinite(features[: fold.train_stop]).all(axis=1)
        ok = np.ones(rows.size, dtype=bool)
        for k in range(w):
            ok &= finite[rows - k]
        if labels is not None:
            ok &= np.isfinite(labels[rows])
        rows = rows[ok]
        return rows[-self.max_samples:] if self.max_samples else rows

    def scaler(self, fold: Fold, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of the finite feature rows of the training slice only."""
        block = features[fold.train_start : fold.train_stop]
        block = block[np.isfinite(block).all(axis=1)]
        if len(block) == 0:
            return np.zeros(features.shape[1]), np.ones(features.shape[1])
        std = block.std(axis=0)
        return block.mean(axis=0), np.where(std > 0, std, 1.0)

    # -- fit / load --------------------------------------------------------------------------
    def _fit_or_load(self, boundary: int, features: np.ndarray, labels: np.ndarray | None) -> FittedFold | None:
        if len(features) < boundary:
            raise ValueError(f"fold at bar {boundary} needs {boundary} feature rows, got {len(features)}")
        fold = self.schedule.fold(boundary)
        features = features[:boundary]
        labels = self.known_labels(boundary, labels)
        rows = self.sample_rows(fold, features, labels)
        if rows.size < self.min_samples:
            log.info("fold %d skipped: %d samples < min_samples=%d", boundary, rows.size, self.min_samples)
            self.manifest.add(boundary, {"boundary": boundary, "skipped": int(rows.size)})
            return None
        lo = max(0, fold.train_start - self.spec.window + 1)
        label_part = labels[fold.train_start : fold.train_stop] if labels is not None else np.empty(0)
        key = cache_key(self.params, boundary, fingerprint(features[lo : fold.train_stop], label_part, rows))
        mean, std = self.scaler(fold, features)
        model = build_model(self.spec, features.shape[1])
        if self.cache.has(key):
            model.load(self.cache.folder(key))
            meta = self.cache.read_meta(key)
        else:
            meta = self._train(model, key, fold, features, labels, rows, mean, std)
        summary = {k: meta[k] for k in ("n_train", "n_val", "val_acc", "val_majority_acc")}
        self.manifest.add(boundary, {"boundary": boundary, "key": key, **summary})
        return FittedFold(fold, model, mean, std, meta)

    def _train(self, model, key: str, fold: Fold, features, labels, rows, mean, std) -> dict:
        n_val = int(rows.size * self.valid_frac) if self.supervised else 0
        n_val = n_val if n_val >= 20 else 0
        fit_rows = rows[: rows.size - n_val - (self.schedule.horizon if n_val else 0)]
        val_rows = rows[rows.size - n_val :] if n_val else rows[:0]
        win = self.spec.window
        X = (sequence_windows(features, fit_rows, win) - mean) / std
        Xv = (sequence_windows(features, val_rows, win) - mean) / std
        y = labels[fit_rows] if labels is not None else None
        yv = labels[val_rows] if labels is not None else None
        log.info("training %s fold %d on %d samples", self.spec.kind, fold.boundary, len(fit_rows))
        info = model.fit(X, y, Xv, yv)
        meta = {"key": key, "boundary": fold.boundary, "train_start": fold.train_start, "train_stop": fold.train_stop,
                "n_train": int(len(fit_rows)), "n_val": int(n_val), "info": info, **self._validation(model, y, Xv, yv),
                "scaler_mean": mean.tolist(), "scaler_std": std.tolist(), "n_features": int(features.shape[1])}
        model.save(self.cache.new_folder(key))
        self.cache.write_meta(key, meta)
        return meta

    def _validation(self, model, y, Xv, yv) -> dict:
        if yv is None or len(yv) == 0 or self.spec.kind == "lagnet":
            return {"val_acc": None, "val_majority_acc": None}
        pred = model.predict(Xv).argmax(axis=1)
        majority = np.bincount(y.astype(int), minlength=3).argmax()
        return {"val_acc": float((pred == yv).mean()), "val_majority_acc": float((yv == majority).mean())}
