"""XGBoost direction classifier on the engineered features of the window's last bar.

Persisted as UBJ (``Booster.save_model``), never pickled. ``multi:softprob`` over 3 classes with
inverse-frequency sample weights; one thread and a fixed seed make it deterministic.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb

from btedge.models.spec import ModelSpec
from btedge.models.torch_models import N_CLASSES, class_weights


class XGBClassifierModel:
    def __init__(self, spec: ModelSpec, n_features: int) -> None:
        self.spec = spec
        self.booster: xgb.Booster | None = None

    def _params(self) -> dict:
        s = self.spec
        return {
            "objective": "multi:softprob", "num_class": N_CLASSES, "max_depth": s.max_depth,
            "eta": 0.1, "subsample": 0.8, "seed": s.seed, "nthread": 1, "tree_method": "hist",
        }

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> dict:
        rows = X[:, -1, :]
        w = class_weights(y)[y.astype(int)]
        self.booster = xgb.train(self._params(), xgb.DMatrix(rows, label=y, weight=w), self.spec.n_estimators)
        return {}

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("XGBClassifierModel.predict before fit or load")
        out = self.booster.inplace_predict(np.ascontiguousarray(X[:, -1, :], dtype=np.float64))
        return np.asarray(out, dtype=np.float64).reshape(len(X), N_CLASSES)

    def save(self, folder: Path) -> None:
        self.booster.save_model(str(Path(folder) / "model.ubj"))

    def load(self, folder: Path) -> None:
        path = Path(folder) / "model.ubj"
        if not path.is_file():
            raise ValueError(f"{path}: xgboost model file missing; delete {folder} to retrain")
        self.booster = xgb.Booster(params={"nthread": 1})
        self.booster.load_model(str(path))
