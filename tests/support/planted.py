"""A learnable planted signal for the ML positive controls (synthetic features, no market data)."""
from __future__ import annotations

import tempfile

import numpy as np

from btedge.models.features import sequence_windows
from btedge.models.spec import ModelSpec
from btedge.training.cache import ModelCache
from btedge.training.schedule import Schedule
from btedge.training.walkforward import WalkForward


def planted_features(n: int, n_features: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, n_features))


def planted_score(X: np.ndarray) -> np.ndarray:
    """The planted signal: a linear score of the newest feature row (recency matters)."""
    return X[:, 0] - 0.8 * X[:, 1]


def planted_labels(X: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    """Classes 0 / 1 / 2 (short / neutral / long) from the planted score."""
    z = planted_score(X)
    return np.where(z > threshold, 2.0, np.where(z < -threshold, 0.0, 1.0))


def walk(kind: str, X: np.ndarray, target: np.ndarray | None, cache: str | None = None, train_bars: int = 700,
         every: int = 300, horizon: int = 1, **spec) -> tuple[WalkForward, np.ndarray]:
    """Walk ``kind`` forward over X (folds at train_bars, + every, ...); returns the walker and the
    (n, k) out-of-sample outputs (NaN before the first fold)."""
    spec = ModelSpec(kind=kind, **{"seq_len": 8, "hidden": 16, "n_estimators": 200, "max_lag": 8, **spec})
    wf = WalkForward(Schedule(train_bars, every, horizon=horizon), spec, ModelCache(cache or tempfile.mkdtemp()),
                     {"planted": X.shape[1]}, None if target is None else {"planted": 1}, min_samples=50)
    n_out = 1 if kind == "lagnet" else 3
    out = np.full((len(X), n_out), np.nan)
    for b in wf.schedule.boundaries(len(X)):
        rows = np.arange(b, min(b + every, len(X)))
        fitted = wf.fitted(b, X, target, np.arange(float(len(X))))
        out[rows] = fitted.predict(sequence_windows(X, rows, spec.window), n_out)
    return wf, out
