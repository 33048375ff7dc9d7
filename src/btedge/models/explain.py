"""Explanations of the fold models (no backtrader import).

- :func:`xgb_contributions`: exact TreeSHAP values of an XGBoost member (``pred_contribs``);
  per class they add up to the raw margin (tested to 1e-5).
- :func:`integrated_gradients`: Sundararajan et al. (2017) for the torch members, with
  Gauss-Legendre quadrature of the path integral; the attributions add up to
  f(x) - f(baseline) (completeness, tested to 1e-3). A small own implementation: captum is not
  a dependency.
- :func:`feature_importance`: mean absolute attribution per feature of one fold's model on the
  windows it scored (TreeSHAP for XGBoost, integrated gradients for torch);
  :func:`fold_importance_table` puts every fold's in one table for the evaluation report.
- :func:`randomisation_check`: Adebayo et al. (2018): attributions of the trained model
  against those of the same architecture with re-initialised weights (torch) or trained on
  permuted labels (XGBoost); a rank correlation near 1 means the explanation ignores the model.
- :func:`reliability_grid` / :func:`plot_reliability`: accuracy and calibration gap by
  volatility decile and confidence bucket, as a PNG heatmap.

See:
  - Lundberg et al. (2020), "From local explanations to global understanding with explainable
    AI for trees" (TreeSHAP), Nature Machine Intelligence
  - Sundararajan, Taly & Yan (2017), "Axiomatic Attribution for Deep Networks", ICML
  - Adebayo et al. (2018), "Sanity Checks for Saliency Maps", NeurIPS
"""
from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)


# -- XGBoost: TreeSHAP ---------------------------------------------------------------------------
def xgb_contributions(booster, rows: np.ndarray) -> np.ndarray:
    """(n, classes, F + 1) SHAP values of ``rows`` (n, F); the last column is the bias term."""
    import xgboost as xgb

    out = booster.predict(xgb.DMatrix(np.ascontiguousarray(rows, dtype=np.float64)), pred_contribs=True)
    return out if out.ndim == 3 else out[:, None, :]


def xgb_margin(booster, rows: np.ndarray) -> np.ndarray:
    """(n, classes) raw margins, which the contributions add up to."""
    import xgboost as xgb

    out = booster.predict(xgb.DMatrix(np.ascontiguousarray(rows, dtype=np.float64)), output_margin=True)
    return out.reshape(len(rows), -1)


# -- torch: integrated gradients -----------------------------------------------------------------
def member_forward(model) -> Callable:
    """The differentiable map windows (B, L, F) -> logits (B, 3) of a torch fold model (float64)."""

    from btedge.models.kan import KANClassifier
    from btedge.models.s4d import S4DClassifier
    from btedge.models.torch_models import TorchClassifier

    if isinstance(model, (TorchClassifier, S4DClassifier)):
        net = copy.deepcopy(model.net).double().eval()
        return net
    if isinstance(model, KANClassifier):
        net = copy.deepcopy(model.net).double().eval()
        return lambda x: net(x[:, -1, :])
    raise ValueError(f"integrated gradients need a torch member (cnn, lstm, tcn, cnn_lstm, s4d, kan), "
                     f"got {type(model).__name__}")


def _path_integral(forward: Callable, x_t, base, tgt, panels: int):
    """Composite 4-point Gauss-Legendre estimate of (x - base) * int_0^1 grad f(base + a (x - base)) da."""
    import torch

    nodes, weights = np.polynomial.legendre.leggauss(4)
    total = torch.zeros_like(x_t)
    for p in range(panels):
        for node, weight in zip(nodes, weights):
            a = (p + (node + 1.0) / 2.0) / panels
            point = (base + float(a) * (x_t - base)).requires_grad_(True)
            (grad,) = torch.autograd.grad(forward(point).gather(1, tgt[:, None]).sum(), point)
            total += float(weight / 2.0 / panels) * grad
    return ((x_t - base) * total).detach().numpy()


def integrated_gradients(forward: Callable, x: np.ndarray, target: np.ndarray | int,
                         baseline: np.ndarray | None = None, tol: float = 1e-4, max_panels: int = 1024) -> np.ndarray:
    """Attributions (same shape as x) of logit ``target`` (per sample, or one class for all) along
    the straight path from ``baseline`` (zeros: the training mean after scaling) to x.

    The path integral uses composite Gauss-Legendre panels, doubled from 4 until every sample's
    completeness gap is at most ``tol`` (ReLU, max-pooling and spline knots make the integrand
    piecewise smooth) or ``max_panels`` is reached (a WARNING names the gap left)."""
    import torch

    x_t = torch.as_tensor(np.asarray(x, dtype=np.float64))
    base = torch.zeros_like(x_t) if baseline is None else torch.as_tensor(np.asarray(baseline, np.float64))
    tgt = torch.as_tensor(np.broadcast_to(np.asarray(target), (len(x_t),)).astype(np.int64))
    panels = 4
    while True:
        attr = _path_integral(forward, x_t, base, tgt, panels)
        gap = completeness_gap(forward, x_t.numpy(), attr, tgt.numpy(), base.numpy()).max()
        if gap <= tol or panels >= max_panels:
            break
        panels *= 2
    if gap > tol:
        log.warning("integrated gradients: completeness gap %.2g > %.2g after %d panels", gap, tol, panels)
    return attr


def completeness_gap(forward: Callable, x: np.ndarray, attributions: np.ndarray, target: np.ndarray | int,
                     baseline: np.ndarray | None = None) -> np.ndarray:
    """Per sample |sum attributions - (f(x) - f(baseline))| for the target logit."""
    import torch

    with torch.no_grad():
        x_t = torch.as_tensor(np.asarray(x, np.float64))
        base = torch.zeros_like(x_t) if baseline is None else torch.as_tensor(np.asarray(baseline, np.float64))
        idx = torch.as_tensor(np.broadcast_to(np.asarray(target), (len(x_t),)).astype(np.int64))[:, None]
        diff = (forward(x_t).gather(1, idx) - forward(base).gather(1, idx))[:, 0].numpy()
    return np.abs(attributions.reshape(len(x_t), -1).sum(axis=1) - diff)


# -- importance and the sanity check -------------------------------------------------------------
def feature_importance(model, X: np.ndarray, tol: float = 0.05, max_panels: int = 32) -> np.ndarray:
    """(F,) mean |attribution| per feature over the windows X (n, L, F) a fold model scored:
    TreeSHAP over all classes for XGBoost, integrated gradients of the predicted class (summed
    over the window's bars, to a looser ``tol``: a ranking, not an exact decomposition) for
    torch members."""
    from btedge.models.xgb_model import XGBClassifierModel

    if isinstance(model, XGBClassifierModel):
        return np.abs(xgb_contributions(model.booster, X[:, -1, :])[:, :, :-1]).mean(axis=(0, 1))
    forward = member_forward(model)
    target = model.predict(X).argmax(axis=1)
    attr = integrated_gradients(forward, X, target, tol=tol, max_panels=max_panels)
    return np.abs(attr).sum(axis=1).mean(axis=0)


def fold_importance_table(folds: dict, features: np.ndarray, names: list[str], every: int):
    """Per-fold feature importance as a DataFrame (one row per fold boundary, one column per
    feature, each row summing to 1): each fold's model on the windows it scored, bars
    ``[boundary, boundary + every)``, scaled by its own training-slice scaler.

    ``folds`` maps boundary -> :class:`~btedge.training.walkforward.FittedFold` (None skipped).
    """
    import pandas as pd

    from btedge.models.features import sequence_windows

    rows = {}
    for b, fitted in sorted(folds.items()):
        if fitted is None:
            continue
        scored = np.arange(b, min(b + every, len(features)))
        windows = sequence_windows(features, scored, fitted.model.spec.window)
        windows = windows[np.isfinite(windows).all(axis=(1, 2))]
        if len(windows):
            imp = feature_importance(fitted.model, fitted.scale(windows))
            rows[b] = imp / imp.sum() if imp.sum() > 0 else imp
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(names)).rename_axis("boundary")


def randomised_copy(model, X: np.ndarray, y: np.ndarray, seed: int = 12345):
    """The model with its learning undone: a torch member with freshly initialised weights (same
    architecture, another seed), an XGBoost member retrained on permuted labels."""
    from btedge.models.spec import build_model
    from btedge.models.xgb_model import XGBClassifierModel

    if isinstance(model, XGBClassifierModel):
        clone = copy.deepcopy(model)
        perm = np.random.default_rng(seed).permutation(len(y))
        clone.fit(X, y[perm], X[:0], y[:0])
        return clone
    return build_model(dataclasses.replace(model.spec, seed=seed), X.shape[2])


def randomisation_check(model, X: np.ndarray, y: np.ndarray, seed: int = 12345) -> float:
    """Spearman correlation of the per-feature importances of the trained and the randomised
    model (near 1: the attributions do not depend on what was learned)."""
    from scipy.stats import spearmanr

    trained = feature_importance(model, X)
    rand = feature_importance(randomised_copy(model, X, y, seed), X)
    return float(spearmanr(trained, rand).statistic)


# -- reliability by volatility and confidence -----------------------------------------------------
def reliability_grid(y: np.ndarray, proba: np.ndarray, vol: np.ndarray, n_vol: int = 10,
                     n_conf: int = 5) -> dict[str, np.ndarray]:
    """Accuracy, mean confidence, calibration gap (accuracy - confidence) and counts on a grid of
    volatility deciles (rows, by quantile of ``vol``) x confidence buckets (columns, equal width
    on [1/3, 1])."""
    y, proba, vol = np.asarray(y, float), np.asarray(proba, float), np.asarray(vol, float)
    ok = np.isfinite(y) & np.isfinite(proba).all(axis=1) & np.isfinite(vol)
    y, proba, vol = y[ok].astype(int), proba[ok], vol[ok]
    conf = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    edges = np.quantile(vol, np.linspace(0, 1, n_vol + 1)) if len(vol) else np.zeros(n_vol + 1)
    vbin = np.clip(np.searchsorted(edges, vol, side="right") - 1, 0, n_vol - 1)
    cbin = np.clip(((conf - 1 / 3) / (2 / 3) * n_conf).astype(int), 0, n_conf - 1)
    count = np.zeros((n_vol, n_conf))
    np.add.at(count, (vbin, cbin), 1.0)
    hits, confs = np.zeros_like(count), np.zeros_like(count)
    np.add.at(hits, (vbin, cbin), correct)
    np.add.at(confs, (vbin, cbin), conf)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc, mean_conf = hits / count, confs / count
    return {"accuracy": acc, "confidence": mean_conf, "gap": acc - mean_conf, "count": count,
            "vol_edges": edges, "conf_edges": np.linspace(1 / 3, 1, n_conf + 1)}


def plot_reliability(grid: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """PNG heatmaps of accuracy and calibration gap by volatility decile x confidence bucket."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    conf = grid["conf_edges"]
    labels = [f"{a:.2f}-{b:.2f}" for a, b in zip(conf[:-1], conf[1:])]
    for ax, key, cmap, lim in ((axes[0], "accuracy", "viridis", (0, 1)), (axes[1], "gap", "RdBu", (-0.5, 0.5))):
        im = ax.imshow(grid[key], aspect="auto", origin="lower", cmap=cmap, vmin=lim[0], vmax=lim[1])
        ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=30)
        ax.set_xlabel("confidence bucket")
        ax.set_ylabel("volatility decile (0 = calmest)")
        ax.set_title(key if key == "accuracy" else "calibration gap (accuracy - confidence)", fontsize=9)
        fig.colorbar(im, ax=ax)
        for (i, j), n in np.ndenumerate(grid["count"]):
            if n:
                ax.text(j, i, f"{int(n)}", ha="center", va="center", fontsize=5, color="white")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
