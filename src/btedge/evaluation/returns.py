"""Return forecasts: an online learner updated every bar against a static, periodically
retrained XGBoost and the zero forecast, with the Diebold-Mariano test.

Target at bar t: the return from the next bar's open over ``horizon`` bars,
``open[t + 1 + h] / open[t + 1] - 1``; it is known at bar t + 1 + h, so the online learner
(:class:`btedge.models.online.OnlineLearner` with ``target='return'``) queues each row for
``h + 1`` bars before learning it, and the XGBoost folds (sliding window, retrained every
``retrain_every`` bars) train only on rows whose target was known before the fold. Features are
the ensemble's engineered columns (:func:`btedge.models.features.build_features`), standardised
on each fold's training rows for XGBoost and online for River.

See:
  - Diebold, F. X. and Mariano, R. S. (1995), "Comparing predictive accuracy", Journal of
    Business & Economic Statistics 13(3)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from scipy import stats as sps
from tqdm.auto import tqdm

from btedge.metrics.signal import forward_open_return
from btedge.models.features import FeatureSpec, build_features
from btedge.models.online import OnlineLearner


@dataclass(frozen=True)
class DieboldMariano:
    """DM statistic of the loss differential d = loss(a) - loss(b) (< 0: a is better) and its p-value."""

    mean_diff: float
    stat: float
    p_value: float
    lags: int
    n: int


def diebold_mariano(loss_a: np.ndarray, loss_b: np.ndarray, lags: int = 0) -> DieboldMariano:
    """Two-sided DM test with a Newey-West (Bartlett) long-run variance over ``lags`` autocovariances.

    Formula:
      - d_t = loss_a_t - loss_b_t; LRV = g_0 + 2 sum_{k=1..L} (1 - k / (L + 1)) g_k
        (g_k: autocovariance of d at lag k, divided by n); DM = mean(d) / sqrt(LRV / n) ~ N(0, 1)
    """
    d = np.asarray(loss_a, float) - np.asarray(loss_b, float)
    d = d[np.isfinite(d)]
    n = d.size
    if n < 3:
        return DieboldMariano(math.nan, math.nan, math.nan, lags, n)
    c = d - d.mean()
    lrv = c @ c / n
    for k in range(1, lags + 1):
        lrv += 2 * (1 - k / (lags + 1)) * (c[k:] @ c[:-k]) / n
    stat = d.mean() / math.sqrt(lrv / n) if lrv > 0 else math.nan
    return DieboldMariano(float(d.mean()), float(stat), float(2 * sps.norm.sf(abs(stat))), lags, n)


#: SGD steps tried for the online learner; the one with the least prequential MAE on the bars
#: before the first scored bar is used (chosen on the training period only).
LEARNING_RATES = (0.05, 0.01, 0.001)


def online_forecasts(features: np.ndarray, target: np.ndarray, horizon: int, start: int,
                     lr: float = LEARNING_RATES[0]) -> np.ndarray:
    """One River learner stepped over every bar (it learns bar s at s + h + 1); forecasts of every bar."""
    learner = OnlineLearner("return", horizon + 1, features.shape[1], lr=lr)
    out = np.full(len(target), np.nan)
    rows = np.isfinite(features).all(axis=1)

    def label_of(s: int) -> float:
        return float(target[s]) if rows[s] else math.nan

    for t in tqdm(range(len(target)), desc=f"online lr={lr}", leave=False, disable=None):
        if rows[t]:
            out[t] = learner.step(t, features[t], label_of)[0]
    return out


def chosen_online(features: np.ndarray, target: np.ndarray, horizon: int, start: int) -> tuple[np.ndarray, float]:
    """Online forecasts from ``start`` with the learning rate of least MAE on the bars before ``start``."""
    best = None
    for lr in LEARNING_RATES:
        f = online_forecasts(features, target, horizon, start, lr)
        err = np.abs(f[:start] - target[:start])
        mae = float(np.nanmean(err)) if np.isfinite(err).any() else math.inf
        if best is None or mae < best[0]:
            best = (mae, lr, f)
    out = best[2].copy()
    out[:start] = np.nan
    return out, best[1]


def xgb_forecasts(features: np.ndarray, target: np.ndarray, horizon: int, train_bars: int, every: int,
                  seed: int = 0) -> np.ndarray:
    """Sliding-window XGBoost regression retrained every ``every`` bars (targets known before each fold)."""
    out = np.full(len(target), np.nan)
    params = {"objective": "reg:absoluteerror", "max_depth": 3, "eta": 0.05, "subsample": 0.8, "seed": seed,
              "nthread": 1}
    for b in range(train_bars, len(target), every):
        rows = np.arange(b - train_bars, b - horizon - 1)
        rows = rows[np.isfinite(features[rows]).all(axis=1) & np.isfinite(target[rows])]
        test = np.arange(b, min(b + every, len(target)))
        test = test[np.isfinite(features[test]).all(axis=1)]
        booster = xgb.train(params, xgb.DMatrix(features[rows], label=target[rows]), 200)
        out[test] = booster.predict(xgb.DMatrix(features[test]))
    return out


def return_forecasts(df: pd.DataFrame, horizon: int, train_bars: int, every: int) -> dict[str, np.ndarray]:
    """Target and the online, XGBoost and zero forecasts on ``df`` (NaN before ``train_bars``);
    ``lr`` holds the online learner's chosen learning rate."""
    arrays = [df[k].to_numpy(float) for k in ("open", "high", "low", "close", "volume")]
    features = build_features(*arrays, spec=FeatureSpec())
    target = forward_open_return(arrays[0], horizon)
    online, lr = chosen_online(features, target, horizon, train_bars)
    static = xgb_forecasts(features, target, horizon, train_bars, every)
    zero = np.where(np.isfinite(static), 0.0, np.nan)
    return {"target": target, "online": online, "xgb": static, "zero": zero, "lr": np.array([lr])}
