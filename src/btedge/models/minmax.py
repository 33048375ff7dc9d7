"""1-D CNN on min-max scaled windows (no backtrader import).

Each window is scaled by its *own* minimum and maximum, per feature column::

    x'[t, f] = 2 (x[t, f] - min_w x[., f]) / (max_w x[., f] - min_w x[., f]) - 1     (0 if flat)

so a window's inputs depend on the bars inside it only: an extreme that arrives later (or
anywhere outside the window) moves nothing, unlike scaling by the whole frame's range. The fold's
z-score scaler applied before is a positive affine map per column, which min-max scaling undoes,
so the member sees the same shapes whatever the fold. The classifier is the ensemble's causal
1-D CNN (``btedge.models.torch_models``, kind ``cnn``) with its training, early stopping and
persistence.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from btedge.models.spec import ModelSpec
from btedge.models.torch_models import TorchClassifier


def minmax_windows(X: np.ndarray) -> np.ndarray:
    """(m, L, F) windows, each column of each window mapped onto [-1, 1] by its own range."""
    lo = X.min(axis=1, keepdims=True)
    span = X.max(axis=1, keepdims=True) - lo
    flat = span <= 0
    return np.where(flat, 0.0, 2.0 * (X - lo) / np.where(flat, 1.0, span) - 1.0)


class MinMaxCNN:
    """The causal 1-D CNN behind the fold-model contract, on min-max scaled windows."""

    def __init__(self, spec: ModelSpec, n_features: int) -> None:
        self.spec = spec
        self.inner = TorchClassifier(dataclasses.replace(spec, kind="cnn"), n_features)

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> dict:
        return self.inner.fit(minmax_windows(X), y, minmax_windows(X_val) if len(X_val) else X_val, y_val)

    def refit(self, X: np.ndarray, y: np.ndarray, epochs: int) -> dict:
        return self.inner.refit(minmax_windows(X), y, epochs)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.inner.predict(minmax_windows(X))

    def save(self, folder: Path) -> None:
        self.inner.save(folder)

    def load(self, folder: Path) -> None:
        self.inner.load(folder)
