"""Online learners (River): predict every bar, learn a bar's label only once its horizon passed.

:class:`OnlineLearner` wraps a River pipeline (``StandardScaler | bias | SoftmaxRegression`` for
the direction classes, ``StandardScaler | LinearRegression`` for the forward return) behind a
pending queue: the row of bar t waits until bar t + horizon, when its label is known, and only
then is learned. A prediction at bar t therefore uses labels of bars <= t - horizon only.

State is kept as a *journal* of the (row, target) pairs learned, in learning order. Saving
writes that journal with ``numpy.save`` (no pickle); loading replays it through a fresh
pipeline, which reproduces the model exactly (River's SGD is deterministic). Nothing of River's
is unpickled.

:class:`OnlineClassifier` is the ensemble member (``members='online'``): at each fold boundary it
learns the fold's training rows in time order (one pass of SGD, as it would have live) and
predicts the fold. Inside the ensemble it cannot see labels between boundaries; the per-bar
learner is :class:`btedge.indicators.online.OnlineSignal`.

See:
  - Montiel et al. (2021), "River: machine learning for streaming data in Python", JMLR 22
"""
from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

import numpy as np

from btedge.models.spec import ModelSpec

log = logging.getLogger(__name__)
TARGETS = ("class", "return")
MODELS = ("linear", "kan")
N_CLASSES = 3
#: SGD step of the online learners (River's default is 0.01; the features are standardised online).
LEARNING_RATE = 0.05


def make_pipeline(target: str, lr: float = LEARNING_RATE, model: str = "linear"):
    """A fresh online model for ``target`` (``'class'`` or ``'return'``): a River pipeline, or
    with ``model='kan'`` (classes only) a KAN partially fitted per row."""
    from river import compose, linear_model, optim, preprocessing

    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if model == "kan":
        if target != "class":
            raise ValueError(f"model 'kan' learns the direction classes only (target='class'), got target={target!r}")
        from btedge.models.kan import KANOnline

        return KANOnline(lr=lr)
    if target == "class":  # River's softmax has no intercept: a constant input after scaling is one
        return compose.Pipeline(preprocessing.StandardScaler(), compose.FuncTransformer(_with_bias),
                                linear_model.SoftmaxRegression(optimizer=optim.SGD(lr)))
    if target == "return":
        head = linear_model.LinearRegression(optimizer=optim.SGD(lr), intercept_lr=lr)
        return compose.Pipeline(preprocessing.StandardScaler(), head)
    raise ValueError(f"target must be one of {TARGETS}, got {target!r}")


def _with_bias(x: dict[str, float]) -> dict[str, float]:
    return {**x, "bias": 1.0}


class OnlineLearner:
    """A River model with a pending queue and a journal.

    Args:
      target: ``'class'`` (3 direction classes; predicts probabilities) or ``'return'``
        (predicts the forward return)
      horizon: bars until a row's label is known
      n_features: length of every row
      lr: SGD step
      model: ``'linear'`` (River) or ``'kan'`` (:class:`btedge.models.kan.KANOnline`)
    """

    def __init__(self, target: str, horizon: int, n_features: int, lr: float = LEARNING_RATE,
                 model: str = "linear") -> None:
        if int(horizon) < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon!r}")
        self.target, self.horizon, self.lr, self.kind = target, int(horizon), lr, model
        self.names = [f"f{i}" for i in range(int(n_features))]
        self.model = make_pipeline(target, lr, model)
        self.pending: deque[tuple[int, np.ndarray]] = deque()
        self.journal: list[np.ndarray] = []
        self.n_learned = 0

    @property
    def n_out(self) -> int:
        return N_CLASSES if self.target == "class" else 1

    def _dict(self, row: np.ndarray) -> dict[str, float]:
        return dict(zip(self.names, map(float, row)))

    def learn(self, row: np.ndarray, y: float) -> None:
        """Learn one (row, target) pair now and journal it."""
        x = self._dict(row)
        self.model.learn_one(x, int(y) if self.target == "class" else float(y))
        self.journal.append(np.append(np.asarray(row, dtype=float), float(y)))
        self.n_learned += 1

    def predict(self, row: np.ndarray) -> np.ndarray:
        """(n_out,) probabilities of classes 0/1/2 (uniform before any label) or the forecast."""
        x = self._dict(row)
        if self.target == "return":
            return np.array([float(self.model.predict_one(x))])
        if self.n_learned == 0:
            return np.full(N_CLASSES, 1.0 / N_CLASSES)
        proba = self.model.predict_proba_one(x)
        return np.array([float(proba.get(k, 0.0)) for k in range(N_CLASSES)])

    def step(self, t: int, row: np.ndarray, label_of) -> np.ndarray:
        """Bar t: queue its row, learn every queued row whose horizon has passed
        (``label_of(s)`` gives the label of bar s, NaN if unusable), then predict bar t."""
        self.pending.append((t, row))
        while self.pending and self.pending[0][0] <= t - self.horizon:
            s, old = self.pending.popleft()
            y = label_of(s)
            if np.isfinite(y):
                self.learn(old, y)
        return self.predict(row)

    # -- persistence: the journal of learned pairs, replayed on load ----------------------------
    def save(self, path: str | Path) -> None:
        width = len(self.names) + 1
        np.save(Path(path), np.array(self.journal, dtype=float).reshape(-1, width), allow_pickle=False)

    def load(self, path: str | Path) -> None:
        path = Path(path)
        try:
            journal = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable online-learner journal ({exc}); delete it to retrain") from None
        if journal.ndim != 2 or journal.shape[1] != len(self.names) + 1:
            raise ValueError(f"{path}: journal of shape {journal.shape}, expected (n, {len(self.names) + 1}); "
                             "delete it to retrain")
        self.model, self.journal, self.n_learned = make_pipeline(self.target, self.lr, self.kind), [], 0
        for rec in journal:
            self.learn(rec[:-1], rec[-1])


def run_online(features: np.ndarray, targets: np.ndarray, horizon: int, target: str = "return",
               lr: float = LEARNING_RATE, min_learned: int = 1) -> np.ndarray:
    """The online learner over a whole series, without backtrader (for evaluations).

    At bar t the row of t is queued, every queued row s <= t - horizon is learned with
    ``targets[s]`` (skipped if NaN), then bar t is predicted. ``targets[s]`` is read at bar
    s + horizon at the earliest, so passing labels or forward returns computed on the whole
    series leaks nothing. Returns (n, 3) probabilities or (n, 1) forecasts, NaN where the row
    has a NaN or fewer than ``min_learned`` targets were learned.
    """
    features = np.asarray(features, dtype=float)
    targets = np.asarray(targets, dtype=float)
    learner = OnlineLearner(target, horizon, features.shape[1], lr)
    out = np.full((len(features), learner.n_out), np.nan)
    label_of = targets.__getitem__
    for t, row in enumerate(features):
        if np.isfinite(row).all():
            pred = learner.step(t, row, label_of)
            if learner.n_learned >= min_learned:
                out[t] = pred
    return out


class OnlineClassifier:
    """The online learner as a fold model: one pass over the fold's training rows in time order."""

    def __init__(self, spec: ModelSpec, n_features: int) -> None:
        self.spec = spec
        self.learner = OnlineLearner("class", 1, n_features)

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> dict:
        """One pass over the rows before the validation tail (which scores it)."""
        self.learner = OnlineLearner("class", 1, X.shape[2])
        for row, label in zip(X[:, -1, :], y):
            self.learner.learn(row, label)
        return {"n_learned": self.learner.n_learned, "epochs": 1}

    def refit(self, X: np.ndarray, y: np.ndarray, epochs: int) -> dict:
        """One pass over the whole training window, the validation tail (the newest rows) included."""
        return self.fit(X, y, X[:0], y[:0])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.array([self.learner.predict(row) for row in X[:, -1, :]]).reshape(len(X), N_CLASSES)

    def save(self, folder: Path) -> None:
        self.learner.save(Path(folder) / "journal.npy")

    def load(self, folder: Path) -> None:
        self.learner.load(Path(folder) / "journal.npy")
