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

        return LogisticRegression(C=1.0, max_iter=1000)
    if method == "forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=100, max_depth=3, min_samples_leaf=20, random_state=seed, n_jobs=1)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


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
    Z = meta_features(member_probs)
    y = np.asarray(labels, float)
    n, first = len(y), int(boundaries[0])
    ok = np.isfinite(Z).all(axis=1)
    ok[:first] = False  # the members' training bars: in-sample, never used
    out = np.full((n, N_CLASSES), np.nan)
    stops = list(boundaries[1:]) + [n]
    for b, stop in zip(boundaries[1:], stops[1:]):
        train = np.flatnonzero(ok[: max(b - horizon, 0)] & np.isfinite(y[: max(b - horizon, 0)]))
        if train.size < min_samples or np.unique(y[train]).size < 2:
            log.info("meta-fold %d skipped: %d out-of-fold rows", b, train.size)
            continue
        meta = make_meta(method, seed).fit(Z[train], y[train].astype(int))
        rows = np.arange(b, min(stop, n))
        rows = rows[ok[rows]]
        if rows.size:
            proba = np.zeros((rows.size, N_CLASSES))
            proba[:, meta.classes_.astype(int)] = meta.predict_proba(Z[rows])
            out[rows] = proba
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
