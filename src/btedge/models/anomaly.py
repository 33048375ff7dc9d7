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

from btedge.models.persist import NPY_MAGIC, corrupt, read_head
from btedge.models.spec import ModelSpec


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): mean unsuccessful-search path length in a BST of n points (Liu et al. 2008)."""
    n = np.asarray(n, dtype=float)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _node_depths(tree) -> np.ndarray:
    depth = np.zeros(tree.node_count)
    for node in range(tree.node_count):  # parents come before children in sklearn's arrays
        for child in (tree.children_left[node], tree.children_right[node]):
            if child >= 0:
                depth[child] = depth[node] + 1.0
    return depth


class ForestScorer:
    """Isolation-forest score from the fitted trees' public arrays, without joblib dispatch.

    Equals ``-IsolationForest.score_samples`` (tested); scoring one row costs ~100 tree
    look-ups instead of ~100 joblib tasks, which matters bar by bar in ``next()``.
    """

    def __init__(self, forest: IsolationForest) -> None:
        self.trees = [est.tree_ for est in forest.estimators_]
        self.features = [np.asarray(f) for f in forest.estimators_features_]
        self.leaf_depth = [_node_depths(t) + average_path_length(t.n_node_samples) - 1.0 for t in self.trees]
        self.norm = len(self.trees) * float(average_path_length(np.array([forest.max_samples_]))[0])

    def score(self, X: np.ndarray) -> np.ndarray:
        X32 = np.asarray(X, dtype=np.float32)
        depth = np.zeros(len(X))
        for tree, feats, leaf_depth in zip(self.trees, self.features, self.leaf_depth):
            depth += leaf_depth[tree.apply(np.ascontiguousarray(X32[:, feats]))] + 1.0
        return 2.0 ** (-depth / self.norm)


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
        self.scorer = ForestScorer(self.forest)
        scores = self.scorer.score(rows)
        self.threshold = float(np.quantile(scores, 1.0 - self.spec.contamination))

    def fit(self, X: np.ndarray, y: np.ndarray | None, X_val: np.ndarray, y_val: np.ndarray | None) -> dict:
        """Unsupervised: the whole training window, no validation tail (nothing to early-stop)."""
        self._refit(np.ascontiguousarray(X[:, -1, :], dtype=np.float64))
        return {"threshold": self.threshold}

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.forest is None:
            raise RuntimeError("IsolationForestModel.predict before fit or load")
        score = self.scorer.score(X[:, -1, :])
        return np.column_stack([score, (score > self.threshold).astype(float)])

    def save(self, folder: Path) -> None:
        np.save(Path(folder) / "train.npy", self._train, allow_pickle=False)

    def load(self, folder: Path) -> None:
        path = Path(folder) / "train.npy"
        if read_head(path, len(NPY_MAGIC)) != NPY_MAGIC:
            raise corrupt(path, ".npy training slice", "no .npy header")
        try:
            rows = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise corrupt(path, ".npy training slice", exc) from None
        if rows.ndim != 2 or rows.dtype.kind != "f" or len(rows) == 0:
            raise corrupt(path, ".npy training slice", f"expected a 2-D float array, got {rows.dtype} {rows.shape}")
        self._refit(rows)
