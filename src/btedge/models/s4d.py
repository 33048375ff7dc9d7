"""S4D diagonal state-space direction classifier (Gu, Gupta, Goel & Re 2022), pure torch.

Each layer is a bank of ``H`` single-input SSMs with a complex diagonal ``A`` (``N/2`` modes per
channel, S4D-Lin or S4D-Inv initialisation), discretised by zero-order hold::

    dtA = A * dt;   Abar = exp(dtA);   Bbar = (exp(dtA) - 1) / A
    K[h, l] = 2 Re sum_n C[h, n] Bbar[h, n] Abar[h, n]^l      (Vandermonde, l = 0 .. L-1)
    y = K * u + D u                                           (causal FFT convolution)

The kernel is truncated at ``L`` taps, so a layer is an exact finite-context filter and the
recurrence that streams it is exact too (the term that leaves the window is subtracted)::

    x_t = Abar x_{t-1} + Bbar u_t - Abar^L Bbar u_{t-L};   y_t = 2 Re(C x_t) + D u_t

A block is ``LayerNorm(u + GLU(Conv1x1(GELU(S4D(u)))))``; the model is a linear encoder,
``layers`` blocks and a linear decoder on the last bar. With ``L = (seq_len - 1) // layers + 1`` the
last output of a ``seq_len`` window depends on exactly the bars the window holds, so the batch
path (an FFT per layer over the window, or one FFT pass over a fold's series) and the per-bar
recurrent path give the same numbers (tested to 1e-5 in float32, ~1e-12 in float64).

Live use: :meth:`S4DClassifier.predict` given one window that is the previous one moved on by a
bar takes one recurrent step (O(layers * H * N)); any other window (a fold switch, a gap) sets
the state from that window in one batch pass: the state is a Vandermonde sum over the layer's
last ``L`` inputs, so no bars are replayed one by one.

Training is the ensemble's (``torch_models.fit_net``: Adam, class weights, early stopping on the
purged validation tail, then a refit on the whole window); unlike the reference recipe, ``dt``
and ``A`` share the common learning rate (the shared loop has no parameter groups). ``hidden``
is the channel count H and the state size N (N/2 complex modes).

See:
  - Gu, Gupta, Goel & Re (2022), "On the Parameterization and Initialization of Diagonal State
    Space Models" (S4D), arXiv:2206.11893; ``state-spaces/s4`` ``models/s4/s4d.py``
"""
from __future__ import annotations

import copy
import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import erf
from torch import nn

from btedge.models.spec import ModelSpec
from btedge.models.torch_models import N_CLASSES, TorchClassifier, inference_threads, is_sliding, softmax

log = logging.getLogger(__name__)
INITS = ("lin", "inv")


def kernel_length(seq_len: int, layers: int) -> int:
    """Taps per layer so that ``layers`` stacked kernels span exactly ``seq_len`` bars (or fewer)."""
    if seq_len < layers + 1:
        raise ValueError(f"S4D needs seq_len >= layers + 1 = {layers + 1}, got seq_len={seq_len}")
    return (seq_len - 1) // layers + 1


class S4DKernel(nn.Module):
    """The SSM part of one layer: parameters, ZOH discretisation and the Vandermonde kernel."""

    def __init__(self, h: int, n: int, length: int, init: str = "lin") -> None:
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        n2 = max(n // 2, 1)
        self.length = length
        self.log_dt = nn.Parameter(torch.rand(h) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        self.log_a_real = nn.Parameter(torch.full((h, n2), math.log(0.5)))
        k = torch.arange(n2, dtype=torch.float32)
        imag = math.pi * k if init == "lin" else (n2 * 2 / math.pi) * (n2 * 2 / (2 * k + 1) - 1)
        self.a_imag = nn.Parameter(imag.repeat(h, 1))
        self.c = nn.Parameter(torch.randn(h, n2, 2) * math.sqrt(0.5))
        self.d = nn.Parameter(torch.randn(h))

    def ssm_parameters(self) -> list[nn.Parameter]:
        """dt and A: the reference trains them at a lower learning rate, without weight decay."""
        return [self.log_dt, self.log_a_real, self.a_imag]

    def discrete(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(dtA, Bbar, C) as complex tensors of shape (H, N/2)."""
        a = torch.complex(-torch.exp(self.log_a_real), self.a_imag)
        dta = a * torch.exp(self.log_dt)[:, None]
        return dta, (torch.exp(dta) - 1.0) / a, torch.view_as_complex(self.c.contiguous())

    def kernel(self) -> torch.Tensor:
        """(H, L) real kernel K[h, l] = 2 Re sum_n C Bbar Abar^l."""
        dta, bbar, c = self.discrete()
        vander = torch.exp(dta[:, :, None] * torch.arange(self.length, device=dta.device))  # (H, N/2, L)
        return 2.0 * torch.einsum("hn,hnl->hl", c * bbar, vander).real

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Causal convolution of u (B, H, T) with the truncated kernel, plus D u."""
        t = u.shape[-1]
        k = self.kernel()
        size = t + self.length
        y = torch.fft.irfft(torch.fft.rfft(u, n=size) * torch.fft.rfft(k, n=size), n=size)[..., :t]
        return y + self.d[:, None] * u


class S4DBlock(nn.Module):
    """``LayerNorm(u + GLU(Conv1x1(GELU(S4D(u)))))`` over (B, H, T); every step but S4D is per bar."""

    def __init__(self, h: int, n: int, length: int, init: str) -> None:
        super().__init__()
        self.ssm = S4DKernel(h, n, length, init)
        self.mix = nn.Conv1d(h, 2 * h, 1)
        self.norm = nn.LayerNorm(h)

    def pointwise(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z = F.glu(self.mix(F.gelu(y)), dim=1)
        return self.norm((u + z).transpose(1, 2)).transpose(1, 2)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.pointwise(u, self.ssm(u))


class S4DNet(nn.Module):
    """Encoder, ``layers`` S4D blocks over windows of ``seq_len`` bars, decoder on the last bar."""

    def __init__(self, n_features: int, hidden: int, layers: int, seq_len: int, init: str = "lin") -> None:
        super().__init__()
        self.length = kernel_length(seq_len, layers)
        self.encoder = nn.Linear(n_features, hidden)
        self.blocks = nn.ModuleList([S4DBlock(hidden, hidden, self.length, init) for _ in range(layers)])
        self.decoder = nn.Linear(hidden, N_CLASSES)

    @property
    def receptive_field(self) -> int:
        return len(self.blocks) * (self.length - 1) + 1

    def sequence(self, x: torch.Tensor, inputs: list | None = None) -> torch.Tensor:
        """(B, T, F) -> (B, H, T) outputs of the last block at every bar (``inputs`` collects
        each block's input)."""
        u = self.encoder(x).transpose(1, 2)
        for block in self.blocks:
            if inputs is not None:
                inputs.append(u)
            u = block(u)
        return u

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.sequence(x)[:, :, -1])

    def forward_sliding(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` of windows that each start one bar after the previous one, in one causal pass."""
        window = x.shape[1]
        series = torch.cat([x[0], x[1:, -1]], dim=0)[None]
        return self.decoder(self.sequence(series)[0, :, window - 1:].T)


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


class S4DStream:
    """Per-bar recurrent inference of a trained :class:`S4DNet` (numpy float64, one thread).

    Built from the net's parameters; :meth:`reset` sets every layer's state from a window of
    inputs in one batch pass (no per-bar replay); :meth:`step` consumes one feature row and
    returns the logits of that bar.
    """

    def __init__(self, net: S4DNet) -> None:
        net = copy.deepcopy(net).double().eval()
        self.net = net
        self.length = net.length
        self.layers = []
        with torch.no_grad():
            for block in net.blocks:
                dta, bbar, c = block.ssm.discrete()
                abar = torch.exp(dta)
                self.layers.append({
                    "abar": abar.numpy(), "bbar": bbar.numpy(), "c": c.numpy(),
                    "drop": (torch.exp(dta * self.length) * bbar).numpy(), "d": block.ssm.d.numpy(),
                    "vander": torch.exp(dta[:, :, None] * torch.arange(self.length - 1, -1, -1)).numpy(),
                    "mix_w": block.mix.weight[:, :, 0].numpy(), "mix_b": block.mix.bias.numpy(),
                    "ln_w": block.norm.weight.numpy(), "ln_b": block.norm.bias.numpy(), "ln_eps": block.norm.eps,
                })
        self.enc_w, self.enc_b = net.encoder.weight.detach().numpy(), net.encoder.bias.detach().numpy()
        self.dec_w, self.dec_b = net.decoder.weight.detach().numpy(), net.decoder.bias.detach().numpy()
        self.state: list[np.ndarray] = []
        self.ring: list[np.ndarray] = []
        self.pos = 0

    def reset(self, window: np.ndarray) -> np.ndarray:
        """Set the state from a (T, F) window (T >= receptive field); return its last logits."""
        inputs: list[torch.Tensor] = []
        with torch.no_grad():
            out = self.net.sequence(torch.as_tensor(window, dtype=torch.float64)[None], inputs)
            logits = self.net.decoder(out[0, :, -1]).numpy()
        self.state, self.ring = [], []
        for layer, u in zip(self.layers, inputs):
            tail = u[0, :, -self.length:].numpy()  # (H, L), oldest first
            if tail.shape[1] < self.length:
                tail = np.pad(tail, ((0, 0), (self.length - tail.shape[1], 0)))
            self.state.append(layer["bbar"] * np.einsum("hl,hnl->hn", tail, layer["vander"]))
            self.ring.append(np.ascontiguousarray(tail.T))  # ring[pos] is the input L bars ago
        self.pos = 0
        return logits

    def step(self, row: np.ndarray) -> np.ndarray:
        """Consume one (F,) feature row; return the (3,) logits of that bar."""
        u = self.enc_w @ row + self.enc_b
        pos = self.pos
        for i, layer in enumerate(self.layers):
            old = self.ring[i][pos]
            x = layer["abar"] * self.state[i] + layer["bbar"] * u[:, None] - layer["drop"] * old[:, None]
            self.state[i] = x
            self.ring[i][pos] = u
            y = 2.0 * (layer["c"] * x).real.sum(axis=1) + layer["d"] * u
            z = layer["mix_w"] @ _gelu(y) + layer["mix_b"]
            h = len(u)
            with np.errstate(over="ignore"):  # exp overflow -> inf -> a gate of 0, as torch's sigmoid gives
                v = u + z[:h] / (1.0 + np.exp(-z[h:]))
            mu = np.add.reduce(v) / h  # = v.mean() (the same sum and division), without its Python layer
            var = np.add.reduce((v - mu) ** 2) / h
            u = (v - mu) / np.sqrt(var + layer["ln_eps"]) * layer["ln_w"] + layer["ln_b"]
        self.pos = (pos + 1) % self.length
        return self.dec_w @ u + self.dec_b


class S4DClassifier(TorchClassifier):
    """S4D behind the fold-model contract (training, early stopping, refit and persistence of
    :class:`~btedge.models.torch_models.TorchClassifier`); ``predict`` of consecutive single
    windows streams."""

    init = "lin"

    def __init__(self, spec: ModelSpec, n_features: int) -> None:
        self._stream: S4DStream | None = None
        self._last: np.ndarray | None = None
        super().__init__(spec, n_features)

    def _make_net(self, n_features: int) -> nn.Module:
        return S4DNet(n_features, self.spec.hidden, self.spec.layers, self.spec.seq_len, self.init)

    def _fit(self, X, y, X_val, y_val, epochs: int | None) -> dict:
        info = super()._fit(X, y, X_val, y_val, epochs)
        self._forget()
        return info

    def load(self, folder: Path) -> None:
        super().load(folder)
        self._forget()

    def _forget(self) -> None:
        self._infer, self._stream, self._last = None, None, None

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        with torch.no_grad(), inference_threads():
            if len(X) == 1:
                return softmax(self._stream_window(X[0]))[None]
            net = self._inference_net()
            x = torch.as_tensor(X)
            logits = net.forward_sliding(x) if is_sliding(X) and X.shape[1] >= net.receptive_field else net(x)
            return torch.softmax(logits, dim=1).numpy()

    def _stream_window(self, window: np.ndarray) -> np.ndarray:
        """Logits of one window: a recurrent step when it follows the last one, else a reset."""
        if self._stream is None:
            self._stream = S4DStream(self.net)
        last, self._last = self._last, window
        if last is not None and last.shape == window.shape and (last[1:] == window[:-1]).all():
            return self._stream.step(window[-1])
        return self._stream.reset(window)
