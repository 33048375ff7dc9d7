"""Walk-forward training of one model spec over a :class:`Schedule` (no backtrader import).

For a fold boundary b, :meth:`WalkForward.fitted` builds the training set from the feature rows
before b and the labels whose horizon passed before b (labels at t >= b - horizon are masked
here, whatever the caller passed), fits the scaler on the training slice only, and returns the
model from the cache or trains it (then caches it).

Training (supervised models): the chronologically last ``valid_frac`` of the training samples is
the validation tail, purged by ``horizon`` bars from the samples before it. The model is fitted
on the samples before the purge with early stopping on the tail (torch epochs, xgboost rounds),
scored on the tail (accuracy, balanced accuracy, log-loss against the class prior: the
ensemble's weights), then refit from scratch on the whole training window for the chosen
number of epochs.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from btedge.models.features import sequence_windows
from btedge.models.spec import MODEL_CODE_VERSION, ModelSpec, build_model
from btedge.training.cache import (
    DataIdentity,
    Manifest,
    ModelCache,
    ModelCacheError,
    cache_key,
    fingerprint,
    library_versions,
)
from btedge.training.schedule import Fold, Schedule
from btedge.training.validation import validation_scores

log = logging.getLogger(__name__)
#: Validation metrics copied from a fold's meta into the manifest.
SUMMARY_KEYS = ("n_train", "n_val", "val_acc", "val_balanced_acc", "val_majority_acc", "val_logloss",
                "val_prior_logloss", "val_gain", "epochs", "train_seconds")


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
      valid_frac: share of training samples held out (at the end) for early stopping and scores
      max_samples: keep only the most recent samples (0 = all)
      data: the data's identity (manifest); :meth:`bind` sets it later
    """

    def __init__(
        self, schedule: Schedule, spec: ModelSpec, cache: ModelCache, feature_key: dict,
        label_key: dict | None, min_samples: int = 100, valid_frac: float = 0.2, max_samples: int = 0,
        data: DataIdentity | None = None,
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
            "code": {"btedge.models": MODEL_CODE_VERSION, **library_versions()},
        }
        self.run = hashlib.sha256(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:12]
        self.bind(data or DataIdentity())
        self._memo: dict[int, FittedFold | None] = {}

    def bind(self, data: DataIdentity) -> None:
        """Record this run's folds in the manifest of ``data``."""
        self.data = data
        self.manifest = Manifest(self.cache, self.params, data)

    @property
    def trained_any(self) -> bool:
        """Whether any fold so far has a model."""
        return any(f is not None for f in self._memo.values())

    def skipped(self) -> list[int]:
        """Boundaries of the folds so far skipped for too few samples."""
        return sorted(b for b, f in self._memo.items() if f is None)

    def fitted(self, boundary: int, features: np.ndarray, labels: np.ndarray | None,
               times: np.ndarray | None = None) -> FittedFold | None:
        """The model scoring bars from ``boundary`` on (None if the fold has too few samples).

        ``times`` (one float per bar, e.g. backtrader date numbers) enter the training data's
        fingerprint and give the fold's ``train_end_time`` (the time of bar ``boundary - 1``).
        """
        if boundary not in self._memo:
            self._memo[boundary] = self._fit_or_load(boundary, features, labels, times)
        return self._memo[boundary]

    def latest(self) -> FittedFold:
        """The newest fold recorded for these params and this data, loaded without training.

        Raises ``ValueError`` naming the data and what to run when there is none.
        """
        record = self.manifest.newest()
        if record is None:
            others = self.manifest.others()
            held = f"; the cache holds folds for these params on {'; '.join(others)} only" if others else ""
            raise ValueError(
                f"no trained fold for these params on {self.data.describe()} in {self.cache.root}{held}: "
                f"run a backtest on this data (same symbol and timeframe) with the same params and "
                f"cache_dir first (it trains and records the folds), then use pretrained=True"
            )
        key = record["key"]
        if not self.cache.has(key):
            raise ModelCacheError(f"{self.manifest.path} lists the fold at bar {record['boundary']}, but "
                                  f"{self.cache.folder(key)} holds no model: run the backtest again (it retrains "
                                  f"the fold), or delete the manifest")
        meta = self.cache.read_meta(key)
        model = build_model(self.spec, int(meta["n_features"]))
        model.load(self.cache.folder(key))
        try:
            fold = self.schedule.fold(int(meta["boundary"]))
        except ValueError:
            raise ModelCacheError(f"{self.cache.folder(key)}: fold boundary {meta['boundary']} does not fit this "
                                  f"schedule; delete the folder to retrain (or pass another cache_dir)") from None
        meta = {**meta, "train_end_time": record.get("train_end_time")}
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

    def split(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fit rows, validation rows): the last ``valid_frac`` (>= 20 samples, else none),
        with ``horizon`` samples purged between them."""
        n_val = int(rows.size * self.valid_frac) if self.supervised else 0
        if n_val < 20:
            return rows, rows[:0]
        return rows[: rows.size - n_val - self.schedule.horizon], rows[rows.size - n_val :]

    # -- fit / load --------------------------------------------------------------------------
    def _fit_or_load(self, boundary: int, features: np.ndarray, labels: np.ndarray | None,
                     times: np.ndarray | None) -> FittedFold | None:
        if len(features) < boundary:
            raise ValueError(f"fold at bar {boundary} needs {boundary} feature rows, got {len(features)}")
        fold = self.schedule.fold(boundary)
        features = features[:boundary]
        labels = self.known_labels(boundary, labels)
        rows = self.sample_rows(fold, features, labels)
        if rows.size < self.min_samples:
            log.info("%s fold %d skipped: %d samples < min_samples=%d", self.spec.kind, boundary, rows.size,
                     self.min_samples)
            self.manifest.add({"boundary": boundary, "skipped": int(rows.size)})
            return None
        lo = max(0, fold.train_start - self.spec.window + 1)
        label_part = labels[fold.train_start : fold.train_stop] if labels is not None else np.empty(0)
        time_part = np.asarray(times[lo:boundary], dtype=float) if times is not None else np.empty(0)
        key = cache_key(self.params, boundary, fingerprint(features[lo : fold.train_stop], label_part, rows, time_part))
        mean, std = self.scaler(fold, features)
        model = build_model(self.spec, features.shape[1])
        if self.cache.has(key):
            meta = self.cache.read_meta(key)
            model.load(self.cache.folder(key))
        else:
            meta = self._train(model, key, fold, features, labels, rows, mean, std)
        end_time = float(times[boundary - 1]) if times is not None else None
        summary = {k: meta.get(k) for k in SUMMARY_KEYS}
        self.manifest.add({"boundary": boundary, "key": key, "train_end_time": end_time, **summary})
        return FittedFold(fold, model, mean, std, {**meta, "train_end_time": end_time})

    def _windows(self, features: np.ndarray, rows: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        return (sequence_windows(features, rows, self.spec.window) - mean) / std

    def _train(self, model, key: str, fold: Fold, features, labels, rows, mean, std) -> dict:
        started = time.perf_counter()
        fit_rows, val_rows = self.split(rows)
        X, Xv = self._windows(features, fit_rows, mean, std), self._windows(features, val_rows, mean, std)
        y = labels[fit_rows] if labels is not None else None
        yv = labels[val_rows] if labels is not None else None
        log.info("training %s fold %d on %d samples (+%d validation)", self.spec.kind, fold.boundary,
                 len(fit_rows), len(val_rows))
        info = model.fit(X, y, Xv, yv)
        scores = validation_scores(self.spec.kind, model, y, Xv, yv)
        if len(val_rows) and hasattr(model, "refit"):
            info["refit"] = model.refit(self._windows(features, rows, mean, std), labels[rows], int(info["epochs"]))
        meta = {"key": key, "boundary": fold.boundary, "train_start": fold.train_start, "train_stop": fold.train_stop,
                "n_train": int(len(rows)), "n_fit": int(len(fit_rows)), "n_val": int(len(val_rows)), "info": info,
                "epochs": info.get("epochs"), **scores, "scaler_mean": mean.tolist(), "scaler_std": std.tolist(),
                "n_features": int(features.shape[1]), "train_seconds": round(time.perf_counter() - started, 4)}
        self.cache.write_model(key, model.save)
        self.cache.write_meta(key, meta)
        return meta
