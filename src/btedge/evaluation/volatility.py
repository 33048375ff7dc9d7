"""Realised-volatility forecasts, walk-forward: KAN against XGBoost, an LSTM and the HAR model.

Target and features come from prices alone (the shared data has no macro series): the
Parkinson daily variance ``ln(H / L)^2 / (4 ln 2)``; features at t are the logs of its means
over the last 1, 5 and 22 bars (the HAR model's regressors, Corsi 2009) and the bar's log
return; the target is the log of its mean over bars t + 1 .. t + h. Each fold trains on a
sliding window ending ``h + 1`` bars before its boundary (so every target used was known),
standardises with the training rows only and scores the next ``every`` bars.

Models: HAR by least squares (the baseline), XGBoost regression trees, a one-layer LSTM over
the last 22 feature rows, and the KAN ``[4, 8, 1]`` of :mod:`btedge.models.kan` fitted with its
LBFGS ``fit_regression``. The score is the Pearson correlation R of forecast and target on the
out-of-sample bars, as the claim states it.

See:
  - Corsi, F. (2009), "A simple approximate long-memory model of realized volatility",
    Journal of Financial Econometrics 7(2)
  - Parkinson, M. (1980), "The extreme value method for estimating the variance of the rate of
    return", Journal of Business 53(1)
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xgboost as xgb
from torch import nn

from btedge.models.kan import KAN, fit_regression
from btedge.models.torch_models import LSTMNet, deterministic_torch

log = logging.getLogger(__name__)
MODELS = ("har", "xgb", "lstm", "kan")
WINDOW = 22


def _mean_past(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full(x.size, np.nan)
    c = np.concatenate([[0.0], np.cumsum(x)])
    out[k - 1:] = (c[k:] - c[:-k]) / k
    return out


def har_data(df: pd.DataFrame, horizon: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) features known at each bar's close and the (n,) log future variance (NaN at the ends)."""
    h, low, c = (df[k].to_numpy(float) for k in ("high", "low", "close"))
    var = np.maximum(np.log(h / low) ** 2 / (4 * np.log(2)), 1e-10)
    ret = np.concatenate([[np.nan], np.diff(np.log(c))])
    X = np.column_stack([np.log(_mean_past(var, k)) for k in (1, 5, 22)] + [ret])
    future = np.full(var.size, np.nan)
    future[: var.size - horizon] = _mean_past(var, horizon)[horizon:]
    return X, np.log(future)


@dataclass(frozen=True)
class VolSettings:
    train_bars: int = 1500
    every: int = 250
    horizon: int = 5
    epochs: int = 20
    kan_steps: int = 30


def _fit_predict(kind: str, X: np.ndarray, y: np.ndarray, Xs: np.ndarray, seed: int, s: VolSettings,
                 W: np.ndarray | None = None, Ws: np.ndarray | None = None) -> np.ndarray:
    if kind == "har":
        A = np.column_stack([np.ones(len(X)), X])
        beta = np.linalg.lstsq(A, y, rcond=None)[0]
        return np.column_stack([np.ones(len(Xs)), Xs]) @ beta
    if kind == "xgb":
        params = {"objective": "reg:squarederror", "max_depth": 3, "eta": 0.05, "subsample": 0.8, "seed": seed,
                  "nthread": 1}
        booster = xgb.train(params, xgb.DMatrix(X, label=y), 200)
        return booster.predict(xgb.DMatrix(Xs))
    with deterministic_torch(seed):
        if kind == "kan":
            net = KAN([X.shape[1], 8, 1])
            x32 = torch.as_tensor(X, dtype=torch.float32)
            fit_regression(net, x32, torch.as_tensor(y[:, None], dtype=torch.float32), steps=s.kan_steps)
            with torch.no_grad():
                return net(torch.as_tensor(Xs, dtype=torch.float32)).numpy()[:, 0]
        net = LSTMNet(X.shape[1], 16, n_out=1)
        _train(net, W, y, s.epochs, seed)
        with torch.no_grad():
            return net(torch.as_tensor(Ws, dtype=torch.float32)).numpy()[:, 0]


def _train(net: nn.Module, W: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.as_tensor(W, dtype=torch.float32), torch.as_tensor(y[:, None], dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.mse_loss(net(xt[idx]), yt[idx]).backward()
            opt.step()


def walk_forward(df: pd.DataFrame, s: VolSettings, seeds: list[int]) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    """Out-of-sample forecasts per model and seed (NaN outside the scored bars) and the target."""
    X, y = har_data(df, s.horizon)
    n = len(y)
    out = {k: [np.full(n, np.nan) for _ in seeds] for k in MODELS}
    for b in range(s.train_bars, n, s.every):
        rows = np.arange(max(2 * WINDOW, b - s.train_bars), b - s.horizon - 1)  # full 22-bar windows
        rows = rows[np.isfinite(X[rows]).all(axis=1) & np.isfinite(y[rows])]
        test = np.arange(b, min(b + s.every, n))
        mu, sd = X[rows].mean(axis=0), X[rows].std(axis=0) + 1e-12
        ym, ys = y[rows].mean(), y[rows].std() + 1e-12
        Z = (X - mu) / sd
        W = np.stack([Z[r - WINDOW + 1: r + 1] for r in rows])
        Ws = np.stack([Z[r - WINDOW + 1: r + 1] for r in test])
        for i, seed in enumerate(seeds):
            for kind in MODELS:
                pred = _fit_predict(kind, Z[rows], (y[rows] - ym) / ys, Z[test], seed + b, s, W, Ws)
                out[kind][i][test] = pred * ys + ym
        log.info("volatility fold %d done", b)
    return out, y
