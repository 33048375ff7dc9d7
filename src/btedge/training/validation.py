"""Scores of a fold model on its purged validation tail (no backtrader import).

The ensemble weighs members by ``val_gain``: the drop in class-weighted log-loss against the
best constant forecast under the same weights (the class prior reweighted by the training
class weights; with inverse-frequency weights, uniform over the classes seen in training).
Zero or less means the member knows nothing the class prior does not.

Metrics (validation rows i, classes k, training class weights w_k, probabilities p_i):

- ``val_logloss`` = sum_i w_{y_i} * -log p_i[y_i] / sum_i w_{y_i}
- ``val_prior_logloss``: the same for the constant c_k = w_k n_k / sum_j w_j n_j (n: training counts)
- ``val_gain`` = val_prior_logloss - val_logloss
- ``val_raw_logloss`` / ``val_raw_prior_logloss``: unweighted, against the raw training prior
- ``val_acc``, ``val_balanced_acc`` (mean recall over the classes present), ``val_majority_acc``
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-12
#: Kinds whose output is not a class probability (no classification scores).
NOT_CLASSIFIERS = ("lagnet", "iforest")


def log_loss(p: np.ndarray, y: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean of -log p[y] (``weights`` per class)."""
    yi = y.astype(int)
    w = weights[yi]
    if not w.sum() > 0:
        return float("nan")
    return float((w * -np.log(np.clip(p[np.arange(len(yi)), yi], _EPS, 1.0))).sum() / w.sum())


def balanced_accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean recall over the classes present in ``y``."""
    yi = y.astype(int)
    return float(np.mean([(pred[yi == k] == k).mean() for k in np.unique(yi)]))


def validation_scores(kind: str, model, y: np.ndarray | None, Xv: np.ndarray, yv: np.ndarray | None) -> dict:
    """The metrics above (None when there is no validation tail or the model is no classifier)."""
    names = ("val_acc", "val_balanced_acc", "val_majority_acc", "val_logloss", "val_prior_logloss", "val_gain",
             "val_raw_logloss", "val_raw_prior_logloss")
    if yv is None or len(yv) == 0 or kind in NOT_CLASSIFIERS:
        return dict.fromkeys(names)
    from btedge.models.torch_models import N_CLASSES, class_weights  # torch: only once a model is scored

    p = model.predict(Xv)
    counts = np.bincount(y.astype(int), minlength=N_CLASSES).astype(float)
    w = class_weights(y)
    const = w * counts / (w * counts).sum()
    prior = counts / counts.sum()
    model_ll, prior_ll = log_loss(p, yv, w), log_loss(np.tile(const, (len(yv), 1)), yv, w)
    pred = p.argmax(axis=1)
    return {
        "val_acc": float((pred == yv).mean()),
        "val_balanced_acc": balanced_accuracy(pred, yv),
        "val_majority_acc": float((yv == counts.argmax()).mean()),
        "val_logloss": model_ll,
        "val_prior_logloss": prior_ll,
        "val_gain": prior_ll - model_ll,
        "val_raw_logloss": log_loss(p, yv, np.ones(N_CLASSES)),
        "val_raw_prior_logloss": log_loss(np.tile(prior, (len(yv), 1)), yv, np.ones(N_CLASSES)),
    }
