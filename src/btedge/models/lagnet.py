"""LagNet: a lag-length network chooses how much history an LSTM forecaster sees.

- :class:`PricePredictor`: LSTM over the last ``lag`` feature rows (older rows masked to zero,
  plus a mask channel) forecasting the forward return over the horizon (scaled by its training
  std). It is trained with a random lag per sample, so it works for every lag in 1..max_lag.
- :class:`LagLengthNetwork`: LSTM + dense, ``lag = 1 + (max_lag - 1) * sigmoid(z)``, trained to
  the lag (from a geometric grid) with the smallest forecast error on each training sample.
  The indicator smooths the lag with an EMA so it does not jitter, then forecasts with it.

Both nets are saved as one state_dict (``weights_only=True`` on load), no pickle.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn

from btedge.models.persist import corrupt, load_into, load_state_dict
from btedge.models.spec import ModelSpec
from btedge.models.torch_models import LSTMNet, deterministic_torch, fit_net, inference_threads


def lag_mask(lags: np.ndarray, seq_len: int) -> np.ndarray:
    """(m, seq_len) 1.0 on the last ``lag`` positions of each window."""
    pos = np.arange(seq_len)[None, :]
    return (pos >= seq_len - np.asarray(lags).reshape(-1, 1)).astype(float)


def masked_input(X: np.ndarray, lags: np.ndarray) -> np.ndarray:
    mask = lag_mask(lags, X.shape[1])
    return np.concatenate([X * mask[:, :, None], mask[:, :, None]], axis=2)


class PricePredictor(LSTMNet):
    """LSTM forecaster of the scaled forward return from a masked window."""

    def __init__(self, n_features: int, hidden: int) -> None:
        super().__init__(n_features + 1, hidden, n_out=1)


class LagLengthNetwork(nn.Module):
    """LSTM + dense; output in (1, max_lag) via a scaled sigmoid."""

    def __init__(self, n_features: int, hidden: int, max_lag: int) -> None:
        super().__init__()
        self.body = LSTMNet(n_features, hidden, n_out=1)
        self.max_lag = max_lag

    def unit(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.body(x))[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 + (self.max_lag - 1) * self.unit(x)


class _UnitLoss(nn.Module):
    def __init__(self, net: LagLengthNetwork) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.unit(x)


class LagNetModel:
    """Fold model: ``predict`` gives the raw lag; ``forecast(X, lags)`` the forward return."""

    def __init__(self, spec: ModelSpec, n_features: int) -> None:
        self.spec, self.n_features = spec, n_features
        self._new_nets()
        self.y_scale = torch.nn.Parameter(torch.ones(1, dtype=torch.float64), requires_grad=False)
        self._infer: tuple[nn.Module, nn.Module] | None = None

    def _new_nets(self) -> None:
        with deterministic_torch(self.spec.seed):
            self.predictor = PricePredictor(self.n_features, self.spec.hidden)
            self.lagnet = LagLengthNetwork(self.n_features, self.spec.hidden, self.spec.max_lag)

    def candidate_lags(self) -> np.ndarray:
        return np.unique(np.round(np.geomspace(1, self.spec.max_lag, 6)).astype(int))

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> dict:
        """The predictor is early-stopped on the validation tail (MSE of the scaled target with
        random lags); the lag network trains for the same number of epochs."""
        return self._fit(X, y, X_val, y_val, None)

    def refit(self, X: np.ndarray, y: np.ndarray, epochs: int) -> dict:
        """Fresh nets trained for exactly ``epochs`` on ``X``."""
        return self._fit(X, y, None, None, epochs)

    def _fit(self, X, y, X_val, y_val, epochs: int | None) -> dict:
        s = self.spec
        self._new_nets()
        scale = float(np.std(y)) or 1.0
        self.y_scale.data[:] = scale
        target = (y / scale).astype(np.float32)[:, None]
        rng = np.random.default_rng(s.seed)
        lags = rng.integers(1, s.max_lag + 1, len(X))
        Xv = yv = None
        if X_val is not None and y_val is not None and len(X_val):
            Xv = masked_input(X_val, rng.integers(1, s.max_lag + 1, len(X_val)))
            yv = (y_val / scale).astype(np.float32)[:, None]
        with deterministic_torch(s.seed):
            info_p = fit_net(self.predictor, masked_input(X, lags), target, nn.MSELoss(), s, "lagnet-predictor",
                             Xv, yv, epochs)
            best = self._best_lags(X, target[:, 0])
            unit = ((best - 1) / (s.max_lag - 1)).astype(np.float32)
            info_l = fit_net(_UnitLoss(self.lagnet), X, unit, nn.MSELoss(), s, "lagnet-lag", epochs=info_p["epochs"])
        self._infer = None
        return {"epochs": info_p["epochs"], "predictor_loss": info_p["train_loss"], "val_loss": info_p["val_loss"],
                "lag_loss": info_l["train_loss"], "mean_best_lag": float(best.mean())}

    def _best_lags(self, X: np.ndarray, target: np.ndarray) -> np.ndarray:
        grid = self.candidate_lags()
        errs = np.column_stack([(self._predict32(masked_input(X, np.full(len(X), g))) - target) ** 2 for g in grid])
        return grid[errs.argmin(axis=1)]

    def _predict32(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.predictor(torch.as_tensor(X, dtype=torch.float32))[:, 0].numpy()

    def _nets(self) -> tuple[nn.Module, nn.Module]:
        if self._infer is None:
            self._infer = (copy.deepcopy(self.lagnet).double().eval(), copy.deepcopy(self.predictor).double().eval())
        return self._infer

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(m, 1) raw lag in (1, max_lag)."""
        with torch.no_grad(), inference_threads():
            return self._nets()[0](torch.as_tensor(X, dtype=torch.float64)).numpy()[:, None]

    def forecast(self, X: np.ndarray, lags: np.ndarray) -> np.ndarray:
        """(m,) forward-return forecasts with integer ``lags`` in 1..max_lag."""
        lags = np.clip(np.asarray(lags, dtype=int), 1, self.spec.max_lag)
        with torch.no_grad(), inference_threads():
            out = self._nets()[1](torch.as_tensor(masked_input(X, lags), dtype=torch.float64))[:, 0].numpy()
        return out * float(self.y_scale)

    def _state(self) -> dict:
        return {**{f"predictor.{k}": v for k, v in self.predictor.state_dict().items()},
                **{f"lagnet.{k}": v for k, v in self.lagnet.state_dict().items()}, "y_scale": self.y_scale.data}

    def save(self, folder: Path) -> None:
        torch.save(self._state(), Path(folder) / "model.pt")

    def load(self, folder: Path) -> None:
        path = Path(folder) / "model.pt"
        state = load_state_dict(path)
        load_into(self.predictor, {k[10:]: v for k, v in state.items() if k.startswith("predictor.")}, path)
        load_into(self.lagnet, {k[7:]: v for k, v in state.items() if k.startswith("lagnet.")}, path)
        if "y_scale" not in state:
            raise corrupt(path, "LagNet state_dict", "no y_scale")
        self.y_scale.data[:] = state["y_scale"]
        self._infer = None
