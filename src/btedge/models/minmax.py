"""1-D CNN on min-max scaled windows (no backtrader import).

Each window is scaled by its *own* minimum and maximum, per feature column::

    x'[t, f] = 2 (x[t, f] - min_w x[., f]) / (max_w x[., f] - min_w x[., f]) - 1     (0 if flat)

so a window's inputs depend on the bars inside it only: an extreme that arrives later (or
anywhere outside the window) moves nothing, unlike scaling by the whole frame's range. The fold's
z-score scaler applied before is a positive affine map per column, which min-max scaling undoes,
so the member sees the same shapes whatever the fold. ``minmax_cnn`` is the ensemble's causal
1-D CNN (``btedge.models.torch_models``, kind ``cnn``) with its training, early stopping and
persistence; ``minmax_cnn2d`` reads the scaled window as a one-channel (bars x features) image
with 3 x 3 convolutions (the "image" variant), trained the same way.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch import nn

from btedge.models.spec import ModelSpec
from btedge.models.torch_models import N_CLASSES, TorchClassifier


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


class ImageCNN(nn.Module):
    """3 x 3 convolutions over the (bars x features) image; the head reads the last bar's row
    (every feature's channels: recency and which feature) and the global max per channel (the
    strongest pattern anywhere)."""

    def __init__(self, n_features: int, hidden: int, layers: int) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for i in range(layers):
            mods += [nn.Conv2d(1 if i == 0 else hidden, hidden, 3, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*mods)
        self.head = nn.Linear(hidden * (n_features + 1), N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.unsqueeze(1))  # (B, hidden, bars, features)
        return self.head(torch.cat([h[:, :, -1, :].flatten(1), h.amax(dim=(2, 3))], dim=1))


class MinMaxImageCNN(TorchClassifier):
    """The 2-D "image" variant on min-max scaled windows (kind ``minmax_cnn2d``)."""

    def _make_net(self, n_features: int) -> nn.Module:
        return ImageCNN(n_features, self.spec.hidden, self.spec.layers)

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> dict:
        return super().fit(minmax_windows(X), y, minmax_windows(X_val) if len(X_val) else X_val, y_val)

    def refit(self, X: np.ndarray, y: np.ndarray, epochs: int) -> dict:
        return super().refit(minmax_windows(X), y, epochs)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return super().predict(minmax_windows(X))
