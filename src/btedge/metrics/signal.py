"""Signal-quality statistics of a 3-class direction forecast (no backtrader import).

Classes are 0 = short, 1 = neutral, 2 = long (``btedge.models.labels``); ``proba`` is an
``(n, 3)`` array in that order. Every function takes the scored bars only (the caller drops the
bars without a label or a forecast) and returns plain floats, NaN where undefined.

Why not accuracy: a model trained with inverse-frequency class weights calls the minority
classes more often than a constant guess does, so its accuracy sits below the majority class
even when it carries a real signal (ML_RIGOR.md section 5). Balanced accuracy (chance = 1/3),
log-loss against the class prior, per-class AUC (chance = 0.5) and the information
coefficient (chance = 0) can each see a small edge.

See:
  - Brodersen et al. (2010), "The balanced accuracy and its posterior distribution", ICPR
  - Guo et al. (2017), "On calibration of modern neural networks", ICML (ECE)
  - Qlib ``qlib/contrib/eva/alpha.py::calc_ic`` (rank IC)
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

N_CLASSES = 3
#: Probabilities are clipped to [EPS, 1 - EPS] before the logarithm (as scikit-learn does).
EPS = 1e-15


def _labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.size and (not np.isfinite(y).all() or (y < 0).any() or (y >= N_CLASSES).any()):
        raise ValueError(f"labels must be classes 0..{N_CLASSES - 1} without NaN (drop unscored bars first)")
    return y.astype(int)


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean over the classes present in ``y`` of the recall (share of the class called right).

    Formula:
      - BA = (1/K) sum_k  #(pred = k and y = k) / #(y = k), K = classes present
    """
    y, pred = _labels(y), np.asarray(pred).astype(int)
    present = np.unique(y)
    if present.size == 0:
        return math.nan
    return float(np.mean([(pred[y == k] == k).mean() for k in present]))


def log_loss(y: np.ndarray, proba: np.ndarray, class_weight: np.ndarray | None = None) -> float:
    """Mean negative log-probability of the realised class, optionally class-weighted.

    Formula:
      - LL = sum_i w_{y_i} * -ln p_i(y_i) / sum_i w_{y_i}   (w = 1 without ``class_weight``)
    """
    y = _labels(y)
    if y.size == 0:
        return math.nan
    p = np.clip(np.asarray(proba, float)[np.arange(y.size), y], EPS, 1.0)
    w = np.ones(y.size) if class_weight is None else np.asarray(class_weight, float)[y]
    return float(np.sum(w * -np.log(p)) / np.sum(w))


def prior_shift(proba: np.ndarray, class_weight: np.ndarray) -> np.ndarray:
    """Undo the tilt of a model trained with ``class_weight``: p_k ∝ q_k / w_k, rows sum to 1.

    A classifier that minimises a loss weighted by w_k learns q_k(x) ∝ w_k p_k(x); dividing by
    the weights recovers probabilities on the unweighted class frequencies.
    """
    w = np.asarray(class_weight, float)
    q = np.asarray(proba, float) / np.where(w > 0, w, np.inf)
    return q / q.sum(axis=1, keepdims=True)


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Inverse-frequency class weights of ``y`` (absent classes 0), normalised to mean 1."""
    counts = np.bincount(_labels(y), minlength=N_CLASSES).astype(float)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1.0), 0.0)
    return w / w[counts > 0].mean() if (counts > 0).any() else w


def per_class_auc(y: np.ndarray, proba: np.ndarray) -> dict[int, float]:
    """One-vs-rest ROC AUC of each class (Mann-Whitney U, ties averaged); NaN if one side is empty.

    Formula:
      - AUC_k = (sum of ranks of p_k over bars with y = k - n_k (n_k + 1) / 2) / (n_k * n_rest)
    """
    y, proba = _labels(y), np.asarray(proba, float)
    out = {}
    for k in range(N_CLASSES):
        pos = y == k
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            out[k] = math.nan
            continue
        ranks = sps.rankdata(proba[:, k])
        out[k] = float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return out


def forward_open_return(open_: np.ndarray, horizon: int) -> np.ndarray:
    """Return realised by acting on bar t: open[t + 1 + h] / open[t + 1] - 1 (NaN past the end).

    A signal known at bar t's close is filled at the next bar's open at the earliest, so this is
    the return the call could actually earn over ``horizon`` bars.
    """
    o = np.asarray(open_, float)
    out = np.full(o.shape, np.nan)
    if o.size > horizon + 1:
        out[: o.size - horizon - 1] = o[horizon + 1 :] / o[1 : o.size - horizon] - 1.0
    return out


def information_coefficient(score: np.ndarray, realised: np.ndarray) -> float:
    """Spearman rank correlation of a score (e.g. p_long - p_short) with the realised return."""
    score, realised = np.asarray(score, float), np.asarray(realised, float)
    if score.size < 3 or np.ptp(score) == 0 or np.ptp(realised) == 0:
        return math.nan
    return float(np.corrcoef(sps.rankdata(score), sps.rankdata(realised))[0, 1])


def brier_score(y: np.ndarray, proba: np.ndarray) -> float:
    """Multi-class Brier score: mean over bars of sum_k (p_k - 1[y = k])^2 (0 best, 2 worst)."""
    y, proba = _labels(y), np.asarray(proba, float)
    if y.size == 0:
        return math.nan
    onehot = np.eye(N_CLASSES)[y]
    return float(((proba - onehot) ** 2).sum(axis=1).mean())


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """Top-label ECE: sum over equal-width confidence bins of (n_b / n) |accuracy_b - confidence_b|."""
    y, proba = _labels(y), np.asarray(proba, float)
    if y.size == 0:
        return math.nan
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        sel = bins == b
        total += sel.sum() * abs(correct[sel].mean() - conf[sel].mean())
    return float(total / y.size)


def confidence_quantiles(side: np.ndarray, confidence: np.ndarray, realised: np.ndarray,
                         n_groups: int = 5) -> list[dict[str, float]]:
    """Mean signed return ``side * realised`` of the calls (side != 0) by confidence quantile.

    Groups are equal-count quantiles of ``confidence`` among the calls, lowest first; a useful
    signal earns more in the higher groups ("do outcomes improve with confidence").
    """
    side, confidence, realised = (np.asarray(a, float) for a in (side, confidence, realised))
    calls = np.flatnonzero((side != 0) & np.isfinite(side) & np.isfinite(realised) & np.isfinite(confidence))
    if calls.size < n_groups:
        return []
    order = calls[np.argsort(confidence[calls], kind="stable")]
    out = []
    for group in np.array_split(order, n_groups):
        signed = side[group] * realised[group]
        out.append({"confidence_low": float(confidence[group].min()), "confidence_high": float(confidence[group].max()),
                    "n": int(group.size), "mean_signed_return": float(signed.mean()),
                    "hit_rate": float((signed > 0).mean())})
    return out


def causal_prior(labels: np.ndarray, horizon: int) -> np.ndarray:
    """(n, 3) class frequencies of the labels known at each bar (those of bars <= t - horizon).

    Laplace-smoothed (+1 per class), so the first bars get the uniform prior; a label at t needs
    the close at t + horizon, hence only labels up to t - horizon are known at t.
    """
    lab = np.asarray(labels, float)
    counts = np.zeros((lab.size, N_CLASSES))
    for k in range(N_CLASSES):
        counts[:, k] = np.cumsum(lab == k)
    known = np.ones((lab.size, N_CLASSES))
    if lab.size > horizon:
        known[horizon:] += counts[: lab.size - horizon]
    return known / known.sum(axis=1, keepdims=True)
