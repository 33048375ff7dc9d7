"""Isolation-forest anomaly detector on rolling return / volatility features.

Persistence without pickle: the scaled training slice is stored as ``train.npy``
(``allow_pickle=False``) and ``load`` refits the forest deterministically (fixed
``random_state``, one job). Output columns: ``score`` (``-score_samples``: higher is more
anomalous, about 0.5 for ordinary rows) and ``flag`` (1.0 where the score exceeds the training
rows' ``1 - contamination`` quantile).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest

from btedge.models.spec import ModelSpec


class IsolationForestModel:
    def __init__(self, spec: ModelSpec, n_features: int) -> None:
        self.spec = spec
        self.forest: IsolationForest | None = None
        self.threshold = np.nan
        self._train: np.ndarray | None = None

    def _refit(self, rows: np.ndarray) -> None:
        self._train = rows
        self.forest = IsolationForest(
            n_estimators=self.spec.n_estimators, random_state=self.spec.seed, n_jobs=1
        ).fit(rows)
        scores = -self.forest.score_samples(rows)
        self.threshold = float(np.quantile(scores, 1.0 - self.spec.contamination))

    def fit(self, X: np.ndarray, y: np.ndarray | None, X_val: np.ndarray, y_val: np.ndarray | None) -> dict:
        self._refit(np.ascontiguousarray(X[:, -1, :], dtype=np.float64))
        return {"threshold": self.threshold}

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.forest is None:
            raise RuntimeError("IsolationForestModel.predict before fit or load")
        score = -self.forest.score_samples(np.ascontiguousarray(X[:, -1, :], dtype=np.float64))
        return np.column_stack([score, (score > self.threshold).astype(float)])

    def save(self, folder: Path) -> None:
        np.save(Path(folder) / "train.npy", self._train, allow_pickle=False)

    def load(self, folder: Path) -> None:
        path = Path(folder) / "train.npy"
        try:
            rows = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable training slice ({exc}); delete {folder} to retrain") from None
        self._refit(rows)
