"""XGBoost direction classifier on the engineered features of the window's last bar.

Persisted as UBJ (``Booster.save_model``), never pickled. ``multi:softprob`` over 3 classes with
inverse-frequency sample weights; one thread and a fixed seed make it deterministic. With a
validation set the number of rounds is early-stopped (at most ``n_estimators``, ``5 *
patience`` rounds without a lower weighted validation log-loss); ``refit`` trains that many
rounds on the whole training window.

Live step: ``predict`` of one row walks a :class:`TreeTable` (the booster's trees as numpy
arrays) instead of calling ``inplace_predict``, whose C call alone costs ~100 us per row (each
call builds a context that reads the cgroup CPU quota files) plus ~200 us of Python. The table
repeats xgboost's float32 arithmetic step for step (input cast to float32, ``x < split`` goes
left, NaN takes the default child, leaves added in tree order from the base score, then the
softmax with libm's ``expf`` and a double sum), so it gives the same bits; each table checks
that against ``inplace_predict`` on probe rows when it is built and is not used otherwise.
Batches (a fold in ``runonce``) use ``inplace_predict``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
from pathlib import Path

import numpy as np
import xgboost as xgb

from btedge.models.persist import corrupt, read_head
from btedge.models.spec import ModelSpec
from btedge.models.torch_models import N_CLASSES, class_weights

log = logging.getLogger(__name__)


def _libm_expf():
    """glibc's ``expf`` (the one libxgboost calls in its softmax), or None where absent."""
    name = ctypes.util.find_library("m")
    try:
        fn = ctypes.CDLL(name).expf if name else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
    return fn


_EXPF = _libm_expf()


class TreeTable:
    """A ``multi:softprob`` booster's trees as flat numpy arrays, scoring one row as xgboost does.

    Every node is a row of ``left``, ``right``, ``feature``, ``value`` (split threshold, or the
    leaf value at a leaf) and ``default_left``; a leaf points to itself, so ``depth`` steps take
    every tree from its root to its leaf at once. Build with :meth:`from_booster`, which returns
    None for models it does not cover (categorical splits, several trees per round, vector
    leaves, another objective) or when the probe rows do not come out bit-equal.
    """

    def __init__(self, model: dict) -> None:
        learner = model["learner"]
        param = learner["learner_model_param"]
        self.n_class = int(param["num_class"])
        base = param["base_score"]
        self.base = np.array(json.loads(base) if base.startswith("[") else [float(base)] * self.n_class,
                             dtype=np.float32).reshape(-1)
        gbm = learner["gradient_booster"]["model"]
        trees = gbm["trees"]
        sizes = np.array([len(t["left_children"]) for t in trees])
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # each tree's first node
        offset = np.repeat(self.roots, sizes)
        left = np.concatenate([np.asarray(t["left_children"], dtype=np.int64) for t in trees])
        right = np.concatenate([np.asarray(t["right_children"], dtype=np.int64) for t in trees])
        node = np.arange(left.size)
        self.left = np.where(left < 0, node, left + offset)
        self.right = np.where(left < 0, node, right + offset)
        self.feature = np.concatenate([np.asarray(t["split_indices"], dtype=np.int64) for t in trees])
        self.value = np.concatenate([np.asarray(t["split_conditions"], dtype=np.float32) for t in trees])
        self.default_left = np.concatenate([np.asarray(t["default_left"], dtype=bool) for t in trees])
        group = np.asarray(gbm["tree_info"], dtype=np.int64)
        rounds = len(trees) // max(self.n_class, 1)
        # class k's trees in tree order, as a (classes, rounds) gather of the leaves
        self.by_class = np.stack([np.flatnonzero(group == k) for k in range(self.n_class)]) if rounds else \
            np.zeros((self.n_class, 0), dtype=np.int64)
        self.depth = _max_depth(trees)

    @classmethod
    def from_booster(cls, booster: xgb.Booster, n_features: int) -> TreeTable | None:
        if _EXPF is None:
            return None
        model = json.loads(booster.save_raw("json"))
        if not _covered(model):
            return None
        table = cls(model)
        probes = table.probe_rows(n_features)
        want = booster.inplace_predict(probes)
        got = np.stack([table.predict_row(r) for r in probes])
        if not np.array_equal(np.asarray(want, dtype=np.float32).reshape(got.shape), got):
            log.warning("xgboost TreeTable differs from inplace_predict on probe rows (max %.3g); single rows "
                        "use inplace_predict", float(np.nanmax(np.abs(want.reshape(got.shape) - got))))
            return None
        return table

    def probe_rows(self, n_features: int, n: int = 256) -> np.ndarray:
        """Rows whose values sit on, just below and around the split thresholds (and NaN)."""
        rng = np.random.default_rng(0)
        rows = rng.standard_normal((n, n_features)) * 2.0
        split = self.left != np.arange(self.left.size)
        for j in range(n_features):
            cut = self.value[split & (self.feature == j)].astype(np.float64)
            if cut.size:
                near = np.concatenate([cut, np.nextafter(cut.astype(np.float32), -np.inf).astype(np.float64)])
                pick = rng.random(n) < 0.6
                rows[pick, j] = rng.choice(near, pick.sum())
        rows[rng.random((n, n_features)) < 0.03] = np.nan
        return rows

    def predict_row(self, row: np.ndarray) -> np.ndarray:
        """(classes,) float32 probabilities of one (features,) row."""
        x = np.asarray(row, dtype=np.float32)
        idx = self.roots
        for _ in range(self.depth):
            v = x[self.feature[idx]]
            go_left = (v < self.value[idx]) | (np.isnan(v) & self.default_left[idx])
            idx = np.where(go_left, self.left[idx], self.right[idx])
        leaves = self.value[idx][self.by_class]  # (classes, rounds)
        margin = np.cumsum(np.concatenate([self.base[:, None], leaves], axis=1), axis=1, dtype=np.float32)[:, -1]
        top = margin.max()
        e = [_EXPF(float(m - top)) for m in margin]  # float32 subtraction, as xgboost's softmax
        total = 0.0
        for v in e:  # a double accumulator, in class order
            total += v
        return np.array(e, dtype=np.float32) / np.float32(total)


def _covered(model: dict) -> bool:
    learner = model.get("learner", {})
    if learner.get("objective", {}).get("name") != "multi:softprob":
        return False
    gbm = learner.get("gradient_booster", {})
    if gbm.get("name") != "gbtree":
        return False
    m = gbm["model"]
    if int(m["gbtree_model_param"].get("num_parallel_tree", 1)) != 1:
        return False
    if int(learner["learner_model_param"].get("num_target", 1)) != 1:
        return False
    n_class = int(learner["learner_model_param"]["num_class"])
    trees = m["trees"]
    if len(trees) % max(n_class, 1) or list(m["tree_info"]) != [i % n_class for i in range(len(trees))]:
        return False
    return all(not any(t["split_type"]) and not t["categories"] and
               int(t["tree_param"].get("size_leaf_vector", 1)) <= 1 for t in trees)


def _max_depth(trees: list[dict]) -> int:
    deepest = 0
    for t in trees:
        left, right = t["left_children"], t["right_children"]
        stack = [(0, 0)]
        while stack:
            n, d = stack.pop()
            deepest = max(deepest, d)
            if left[n] >= 0:
                stack += [(left[n], d + 1), (right[n], d + 1)]
    return deepest


class XGBClassifierModel:
    def __init__(self, spec: ModelSpec, n_features: int) -> None:
        self.spec = spec
        self._booster: xgb.Booster | None = None
        self._table: TreeTable | None | bool = False  # False: not built yet; None: not usable

    @property
    def booster(self) -> xgb.Booster | None:
        return self._booster

    @booster.setter
    def booster(self, value: xgb.Booster | None) -> None:
        self._booster, self._table = value, False

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
        if len(X) == 1:
            if self._table is False:
                self._table = TreeTable.from_booster(self.booster, X.shape[2])
            if self._table is not None:
                return self._table.predict_row(X[0, -1, :]).astype(np.float64)[None]
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
