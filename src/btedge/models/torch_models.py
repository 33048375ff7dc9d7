"""Small torch direction classifiers: 1-D CNN, LSTM, TCN, CNN-LSTM (no backtrader import).

Input ``(batch, seq_len, features)``, output logits over (short, neutral, long). Training is
deterministic on CPU: seeded init and batch order, ``torch.use_deterministic_algorithms`` and one
thread while fitting. Inference runs a float64 copy of the net, so a batch of windows and the
same windows one at a time agree to ~1e-15.

TCN follows Bai, Kolter & Koltun (2018, arXiv:1803.01271) and ``locuslab/TCN``: causal dilated
convolutions (dilation 2^i) with right-padding removed (``Chomp1d``, guarded for padding 0),
``parametrizations.weight_norm`` (the deprecated ``nn.utils.weight_norm`` is not used and no
ineffective ``normal_`` init is written), residual 1x1 convs, classification from the last step.

A single CNN window (a live step) is scored by :class:`NumpyCNN`, a numpy copy of the float64
net (~3x cheaper than the torch call for one 32-bar window; equal to ~1e-16).
"""
from __future__ import annotations

import contextlib
import copy
import logging
from typing import Iterator

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from btedge.models.persist import StateDictFile
from btedge.models.spec import ModelSpec

log = logging.getLogger(__name__)
N_CLASSES = 3
#: torch threads used for inference. One is the default: on a small shared machine OpenMP
#: spin-waiting makes two threads up to 100x slower for these tiny nets (see bench/).
INFERENCE_THREADS = 1


@contextlib.contextmanager
def inference_threads(n: int | None = None) -> Iterator[None]:
    """Run torch with ``n`` (default ``INFERENCE_THREADS``) threads; restore afterwards."""
    n = n or INFERENCE_THREADS
    old = torch.get_num_threads()
    if old != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if old != n:
            torch.set_num_threads(old)


@contextlib.contextmanager
def deterministic_torch(seed: int, threads: int = 1) -> Iterator[None]:
    """Seed torch, force deterministic kernels and ``threads`` threads; restore afterwards."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


class Chomp1d(nn.Module):
    """Drop the last ``pad`` steps (the right padding) so a padded conv is causal."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, : -self.pad] if self.pad else x  # x[..., :-0] would be empty


class TemporalBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int, kernel: int, dilation: int, dropout: float = 0.0) -> None:
        super().__init__()
        pad = (kernel - 1) * dilation

        def conv(c_in: int) -> nn.Module:
            return nn.utils.parametrizations.weight_norm(nn.Conv1d(c_in, n_out, kernel, padding=pad, dilation=dilation))

        self.net = nn.Sequential(
            conv(n_in), Chomp1d(pad), nn.ReLU(), nn.Dropout(dropout),
            conv(n_out), Chomp1d(pad), nn.ReLU(), nn.Dropout(dropout),
        )
        self.res = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.net(x) + self.res(x))


class TCN(nn.Module):
    """Levels with dilation 1, 2, 4, ...; receptive field 1 + 2 (k - 1)(2^L - 1)."""

    def __init__(self, n_features: int, hidden: int, levels: int, kernel: int = 3) -> None:
        super().__init__()
        chans = [n_features] + [hidden] * levels
        self.blocks = nn.Sequential(*[TemporalBlock(chans[i], chans[i + 1], kernel, 2**i) for i in range(levels)])
        self.head = nn.Linear(hidden, N_CLASSES)

        self.receptive_field = 1 + 2 * (kernel - 1) * (2**levels - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x.transpose(1, 2))[:, :, -1])

    def forward_sliding(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` of windows that each start one bar after the previous one, in one causal
        pass over the rows they span. Equal to ``forward`` when the receptive field fits in the
        window (the last step never reaches a window's zero padding); the caller checks both."""
        window = x.shape[1]
        series = torch.cat([x[0], x[1:, -1]], dim=0)  # (m + window - 1, features)
        out = self.blocks(series.T.unsqueeze(0))[0, :, window - 1:]  # (hidden, m)
        return self.head(out.T)


def is_sliding(X: np.ndarray) -> bool:
    """True when each window is the previous one moved on by one row (a fold's windows)."""
    return len(X) > 1 and bool(np.array_equal(X[1:, :-1], X[:-1, 1:]))


class CNN1D(nn.Module):
    """Causal convolutions (left padding only); the head reads the last step (recency) and the
    global max over the window (the strongest pattern anywhere in it)."""

    def __init__(self, n_features: int, hidden: int, layers: int, kernel: int = 3) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for i in range(layers):
            conv = nn.Conv1d(n_features if i == 0 else hidden, hidden, kernel, padding=kernel - 1)
            mods += [conv, Chomp1d(kernel - 1), nn.ReLU()]
        self.conv = nn.Sequential(*mods)
        self.head = nn.Linear(2 * hidden, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2))
        return self.head(torch.cat([h[:, :, -1], h.amax(dim=2)], dim=1))


class NumpyCNN:
    """Float64 numpy copy of a trained :class:`CNN1D` for one window (a live step): the same
    causal convolutions as one im2col product per layer, without torch's per-module overhead.
    Agrees with the float64 torch net to ~1e-16 (the order of the sums in a dot product)."""

    def __init__(self, net: CNN1D) -> None:
        with torch.no_grad():  # weights as (out, tap, in): the columns below are tap-major
            self.convs = [(m.weight.double().permute(0, 2, 1).reshape(m.out_channels, -1).numpy().copy(),
                           m.bias.double().numpy().copy(), int(m.kernel_size[0]))
                          for m in net.conv if isinstance(m, nn.Conv1d)]
            self.head_w = net.head.weight.double().numpy().copy()
            self.head_b = net.head.bias.double().numpy().copy()

    def logits(self, window: np.ndarray) -> np.ndarray:
        """(3,) logits of one (bars, features) window."""
        h = np.asarray(window, dtype=np.float64)
        for w, b, k in self.convs:
            bars = len(h)
            padded = np.concatenate([np.zeros((k - 1, h.shape[1])), h])
            cols = np.concatenate([padded[j : j + bars] for j in range(k)], axis=1)  # (bars, k * channels)
            h = np.maximum(cols @ w.T + b, 0.0)
        return self.head_w @ np.concatenate([h[-1], h.max(axis=0)]) + self.head_b


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class LSTMNet(nn.Module):
    def __init__(self, n_features: int, hidden: int, n_out: int = N_CLASSES) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class CNNLSTM(nn.Module):
    def __init__(self, n_features: int, hidden: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv1d(n_features, hidden, 3, padding=2), Chomp1d(2), nn.ReLU())
        self.lstm = LSTMNet(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(self.conv(x.transpose(1, 2)).transpose(1, 2))


def make_net(spec: ModelSpec, n_features: int) -> nn.Module:
    if spec.kind == "cnn":
        return CNN1D(n_features, spec.hidden, spec.layers)
    if spec.kind == "lstm":
        return LSTMNet(n_features, spec.hidden)
    if spec.kind == "tcn":
        return TCN(n_features, spec.hidden, spec.layers)
    if spec.kind == "cnn_lstm":
        return CNNLSTM(n_features, spec.hidden)
    raise ValueError(f"no torch classifier for kind {spec.kind!r}")


def class_weights(y: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Inverse-frequency weights (absent classes get 0), normalised to mean 1 over present ones."""
    counts = np.bincount(y.astype(int), minlength=n_classes).astype(float)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1.0), 0.0)
    return w / w[counts > 0].mean()


def _train_epoch(net: nn.Module, xt: torch.Tensor, yt: torch.Tensor, loss_fn: nn.Module,
                 opt: torch.optim.Optimizer, perm: torch.Tensor, batch_size: int) -> float:
    net.train()
    total = 0.0
    for i in range(0, len(xt), batch_size):
        idx = perm[i : i + batch_size]
        opt.zero_grad()
        loss = loss_fn(net(xt[idx]), yt[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / max(len(xt), 1)


def fit_net(
    net: nn.Module, X: np.ndarray, target: np.ndarray, loss_fn: nn.Module, spec: ModelSpec, desc: str,
    X_val: np.ndarray | None = None, y_val: np.ndarray | None = None, epochs: int | None = None,
) -> dict:
    """Mini-batch Adam.

    With a validation set: at most ``spec.epochs`` epochs, stopped after ``spec.patience``
    epochs without a lower validation loss; the best epoch's weights are restored and
    ``info["epochs"]`` is that epoch (1-based). Without one: exactly ``epochs`` (default
    ``spec.epochs``). Returns ``{"epochs", "epochs_run", "train_loss", "val_loss"}``.
    """
    xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(target)
    validate = X_val is not None and y_val is not None and len(X_val) > 0
    if validate:
        xv, yv = torch.as_tensor(X_val, dtype=torch.float32), torch.as_tensor(y_val)
    opt = torch.optim.Adam(net.parameters(), lr=spec.lr)
    gen = torch.Generator().manual_seed(spec.seed)
    n_epochs = int(epochs or spec.epochs)
    best_loss, best_epoch, best_state, run = float("inf"), n_epochs, None, 0
    train_loss = float("nan")
    for run in tqdm(range(1, n_epochs + 1), desc=desc, leave=False, disable=None):
        train_loss = _train_epoch(net, xt, yt, loss_fn, opt, torch.randperm(len(xt), generator=gen), spec.batch_size)
        if not validate:
            continue
        net.eval()
        with torch.no_grad():
            val_loss = float(loss_fn(net(xv), yv))
        if val_loss < best_loss - 1e-6:
            best_loss, best_epoch, best_state = val_loss, run, copy.deepcopy(net.state_dict())
        elif run - best_epoch >= spec.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return {"epochs": best_epoch, "epochs_run": run, "train_loss": train_loss,
            "val_loss": best_loss if validate else None}


class TorchClassifier(StateDictFile):
    """A torch net of ``spec.kind`` behind the fold-model contract."""

    def __init__(self, spec: ModelSpec, n_features: int) -> None:
        self.spec = spec
        with deterministic_torch(spec.seed):
            self.net = self._make_net(n_features)
        self._infer: nn.Module | None = None
        self._numpy: tuple[nn.Module, NumpyCNN] | None = None

    def _make_net(self, n_features: int) -> nn.Module:
        """An untrained net (subclasses with another architecture override this)."""
        return make_net(self.spec, n_features)

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> dict:
        """Early-stopped on ``(X_val, y_val)`` when given (see :func:`fit_net`)."""
        return self._fit(X, y, X_val, y_val, None)

    def refit(self, X: np.ndarray, y: np.ndarray, epochs: int) -> dict:
        """A fresh net (same seed) trained for exactly ``epochs`` on ``X``."""
        return self._fit(X, y, None, None, epochs)

    def _fit(self, X, y, X_val, y_val, epochs: int | None) -> dict:
        with deterministic_torch(self.spec.seed):
            self.net = self._make_net(X.shape[2])
            weights = torch.as_tensor(class_weights(y), dtype=torch.float32)
            loss_fn = nn.CrossEntropyLoss(weight=weights)
            yv = None if y_val is None else y_val.astype(np.int64)
            info = fit_net(self.net, X, y.astype(np.int64), loss_fn, self.spec, self.spec.kind, X_val, yv, epochs)
        self._infer = None
        return info

    def _inference_net(self) -> nn.Module:
        if self._infer is None:
            self._infer = copy.deepcopy(self.net).double().eval()
        return self._infer

    def _numpy_cnn(self) -> NumpyCNN:
        net = self._inference_net()
        if self._numpy is None or self._numpy[0] is not net:  # rebuilt with the inference net
            self._numpy = (net, NumpyCNN(net))
        return self._numpy[1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 1 and type(self.net) is CNN1D:  # a live step: one window, no torch overhead
            return softmax(self._numpy_cnn().logits(X[0]))[None]
        with torch.no_grad(), inference_threads():
            net = self._inference_net()
            x = torch.as_tensor(X, dtype=torch.float64)
            if isinstance(net, TCN) and net.receptive_field <= X.shape[1] and is_sliding(X):
                logits = net.forward_sliding(x)  # a fold in runonce: one pass, not one per window
            else:
                logits = net(x)
            return torch.softmax(logits, dim=1).numpy()
