"""XGBoost direction classifier on the engineered features of the window's last bar.

Persisted as UBJ (``Booster.save_model``), never pickled. ``multi:softprob`` over 3 classes with
inverse-frequency sample weights; one thread and a fixed seed make it deterministic. With a
validation set the number of rounds is early-stopped (at most ``n_estimators``, ``5 *
patience`` rounds without a lower weighted validation log-loss); ``refit`` trains that many
rounds on the whole training window.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb

from btedge.models.persist import corrupt, read_head
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
            "eval_metric": "mlogloss",
        }

    @staticmethod
    def _matrix(X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> xgb.DMatrix:
        return xgb.DMatrix(X[:, -1, :], label=y, weight=weights[y.astype(int)])

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> dict:
        """Early-stopped on ``(X_val, y_val)`` when given; ``info["epochs"]`` is the rounds kept."""
        weights = class_weights(y)
        train = self._matrix(X, y, weights)
        if y_val is None or len(y_val) == 0:
            self.booster = xgb.train(self._params(), train, self.spec.n_estimators)
            return {"epochs": self.spec.n_estimators}
        booster = xgb.train(self._params(), train, self.spec.n_estimators,
                            evals=[(self._matrix(X_val, y_val, weights), "val")],
                            early_stopping_rounds=5 * self.spec.patience, verbose_eval=False)
        rounds = int(booster.best_iteration) + 1
        self.booster = booster[:rounds]
        return {"epochs": rounds, "val_loss": float(booster.best_score)}

    def refit(self, X: np.ndarray, y: np.ndarray, epochs: int) -> dict:
        self.booster = xgb.train(self._params(), self._matrix(X, y, class_weights(y)), int(epochs))
        return {"epochs": int(epochs)}

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("XGBClassifierModel.predict before fit or load")
        out = self.booster.inplace_predict(np.ascontiguousarray(X[:, -1, :], dtype=np.float64))
        return np.asarray(out, dtype=np.float64).reshape(len(X), N_CLASSES)

    def save(self, folder: Path) -> None:
        self.booster.save_model(str(Path(folder) / "model.ubj"))

    def load(self, folder: Path) -> None:
        path = Path(folder) / "model.ubj"
        if read_head(path, 1) == b"":
            raise corrupt(path, "xgboost UBJ model", "empty file")
        booster = xgb.Booster(params={"nthread": 1})
        try:
            booster.load_model(str(path))
        except xgb.core.XGBoostError as exc:
            raise corrupt(path, "xgboost UBJ model", str(exc).split("Stack trace")[0].strip()) from None
        self.booster = booster
