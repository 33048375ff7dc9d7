"""Stacked meta-learner over the members' out-of-fold walk-forward probabilities (no backtrader).

scikit-learn's ``StackingClassifier`` refits the members inside its own (shuffled, or at best
time-series) cross-validation; here the members are already walked forward, so every member
probability from a fold's boundary on is out of sample. The meta-learner is walked forward
over those:

- meta-features: the members' log-probabilities side by side (logistic regression on them is
  a learned log-linear pool of the members; a small random forest may also learn interactions)
- at meta-boundary b (the member fold boundaries after the first): fit on the rows r with
  ``first_oos <= r < b - horizon``, i.e. out-of-sample member outputs whose label was known
  before b (a label at r needs the close at r + horizon); predict the rows [b, next boundary)
- rows before ``first_oos`` (the members' own training bars) are never read

:func:`calibration_report` scores the stacked and soft-vote probabilities side by side with
``btedge.metrics.signal`` (balanced accuracy, log-loss, Brier, ECE).
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from btedge.metrics.signal import balanced_accuracy, brier_score, expected_calibration_error, log_loss

log = logging.getLogger(__name__)
METHODS = ("logistic", "forest")
N_CLASSES = 3
_EPS = 1e-6


def meta_features(member_probs: Sequence[np.ndarray]) -> np.ndarray:
    """(n, 3 * members) log-probabilities (clipped at 1e-6); NaN rows stay NaN."""
    return np.log(np.clip(np.column_stack([np.asarray(p, float) for p in member_probs]), _EPS, 1.0))


def soft_vote(member_probs: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of the members' probabilities (equal weights by default)."""
    w = np.ones(len(member_probs)) if weights is None else np.asarray(weights, float)
    return sum(wi * np.asarray(p, float) for wi, p in zip(w, member_probs)) / w.sum()


def make_meta(method: str, seed: int = 0):
    """An untrained scikit-learn meta-learner."""
    if method == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-10, max_iter=1000)  # tight: the same fit in every mode
    if method == "forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=100, max_depth=3, min_samples_leaf=20, random_state=seed, n_jobs=1)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def fit_meta(Z: np.ndarray, labels: np.ndarray, boundary: int, first_oos: int, horizon: int,
             method: str = "logistic", min_samples: int = 100, seed: int = 0):
    """The meta-learner of the fold starting at ``boundary``: fitted on the rows
    ``first_oos <= r < boundary - horizon`` with finite meta-features and label; None if fewer
    than ``min_samples`` or a single class."""
    stop = max(boundary - horizon, first_oos)
    y = np.asarray(labels[:stop], float)
    ok = np.isfinite(Z[first_oos:stop]).all(axis=1) & np.isfinite(y[first_oos:])
    train = first_oos + np.flatnonzero(ok)
    if train.size < min_samples or np.unique(y[train]).size < 2:
        log.info("meta-fold %d skipped: %d out-of-fold rows", boundary, train.size)
        return None
    return make_meta(method, seed).fit(Z[train], y[train].astype(int))


def meta_proba(meta, Z: np.ndarray) -> np.ndarray:
    """(m, 3) class probabilities of the meta-learner (classes it never saw get 0)."""
    proba = np.zeros((len(Z), N_CLASSES))
    proba[:, meta.classes_.astype(int)] = meta.predict_proba(Z)
    return proba


def stack_walk_forward(
    member_probs: Sequence[np.ndarray], labels: np.ndarray, boundaries: Sequence[int], horizon: int,
    method: str = "logistic", min_samples: int = 100, seed: int = 0,
) -> np.ndarray:
    """(n, 3) stacked probabilities, NaN where no meta-model exists yet.

    Args:
      member_probs: one (n, 3) array per member, out of sample from ``boundaries[0]`` on
      labels: (n,) classes 0/1/2 (NaN unknown)
      boundaries: the members' fold boundaries (increasing); the first is ``first_oos``
      horizon: label horizon in bars
      method: ``'logistic'`` or ``'forest'``
      min_samples: meta-folds with fewer training rows are skipped
    """
    if not member_probs:
        raise ValueError("member_probs must hold at least one member's (n, 3) probabilities")
    make_meta(method)  # a bad method fails here, with or without data
    Z = meta_features(member_probs)
    n, first = len(Z), int(boundaries[0])
    out = np.full((n, N_CLASSES), np.nan)
    stops = list(boundaries[1:]) + [n]
    for b, stop in zip(boundaries[1:], stops[1:]):
        meta = fit_meta(Z, labels, b, first, horizon, method, min_samples, seed)
        rows = np.arange(b, min(stop, n))
        rows = rows[np.isfinite(Z[rows]).all(axis=1)]
        if meta is not None and rows.size:
            out[rows] = meta_proba(meta, Z[rows])
    return out


def calibration_report(labels: np.ndarray, probs: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Scores of each named (n, 3) forecast on the rows where every forecast and the label exist."""
    y = np.asarray(labels, float)
    rows = np.isfinite(y)
    for p in probs.values():
        rows &= np.isfinite(p).all(axis=1)
    yr = y[rows].astype(int)
    return {
        name: {"n": int(rows.sum()), "balanced_accuracy": balanced_accuracy(yr, p[rows].argmax(axis=1)),
               "log_loss": log_loss(yr, p[rows]), "brier": brier_score(yr, p[rows]),
               "ece": expected_calibration_error(yr, p[rows])}
        for name, p in probs.items()
    }
