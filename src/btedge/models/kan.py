"""Kolmogorov-Arnold network (Liu et al. 2024) in the efficient formulation, pure torch.

Every edge (input i -> output j) of a :class:`KANLinear` is a learned univariate function::

    phi_ji(x) = w_base[j, i] * SiLU(x) + scaler[j, i] * sum_m c[j, i, m] B_m(x)
    y_j = sum_i phi_ji(x_i)

with cubic B-splines ``B_m`` on a per-input knot vector of ``grid_size + 2 k + 1`` knots (``k = 3``),
built by the Cox-de Boor recursion. The bases sum to 1 only inside the grid, so
:meth:`KANLinear.update_grid` moves the knots to the quantiles of the data a layer sees (blended
with a uniform grid, as efficient-kan does) and refits the coefficients by least squares to the
old curves, so the layer's outputs do not change (tested to 1e-4).

:class:`KANClassifier` is the ensemble member: a ``[F, hidden, 3]`` KAN on the window's last
feature row (the engineered features are a small tabular vector, where KANs fit), knots moved to
the training data before training, trained by the ensemble's loop (``torch_models.fit_net``:
class weights, early stopping, refit), weights as a state_dict.
:func:`plot_edges` draws every learned edge function to PNG. :class:`KANOnline` is the per-bar
partial fit (``OnlineSignal(model='kan')``).

See:
  - Liu et al. (2024), "KAN: Kolmogorov-Arnold Networks", arXiv:2404.19756
  - ``Blealtan/efficient-kan`` (``src/efficient_kan/kan.py``), ``KindXiaoming/pykan``
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit
from torch import nn

from btedge.models.persist import StateDictFile
from btedge.models.spec import ModelSpec
from btedge.models.torch_models import N_CLASSES, class_weights, deterministic_torch, fit_net, inference_threads

log = logging.getLogger(__name__)


class KANLinear(nn.Module):
    """One KAN layer of ``n_in * n_out`` spline-plus-SiLU edges."""

    def __init__(self, n_in: int, n_out: int, grid_size: int = 5, order: int = 3,
                 grid_range: tuple[float, float] = (-1.0, 1.0), grid_eps: float = 0.02) -> None:
        super().__init__()
        self.n_in, self.n_out, self.grid_size, self.order, self.grid_eps = n_in, n_out, grid_size, order, grid_eps
        h = (grid_range[1] - grid_range[0]) / grid_size
        knots = torch.arange(-order, grid_size + order + 1, dtype=torch.float32) * h + grid_range[0]
        self.register_buffer("grid", knots.expand(n_in, -1).contiguous())
        self.base_weight = nn.Parameter(torch.empty(n_out, n_in))
        self.spline_weight = nn.Parameter(torch.randn(n_out, n_in, grid_size + order) * 0.1 / grid_size)
        self.spline_scaler = nn.Parameter(torch.empty(n_out, n_in))
        nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5))

    def bases(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_in) -> (B, n_in, grid_size + order) B-spline bases (Cox-de Boor)."""
        g = self.grid
        x = x.unsqueeze(-1)
        b = ((x >= g[:, :-1]) & (x < g[:, 1:])).to(x.dtype)
        for k in range(1, self.order + 1):
            left = (x - g[:, : -(k + 1)]) / (g[:, k:-1] - g[:, : -(k + 1)]) * b[:, :, :-1]
            right = (g[:, k + 1:] - x) / (g[:, k + 1:] - g[:, 1:-k]) * b[:, :, 1:]
            b = left + right
        return b

    def scaled_spline_weight(self) -> torch.Tensor:
        return self.spline_weight * self.spline_scaler.unsqueeze(-1)

    def edges(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n_in) -> (B, n_out, n_in): every edge function phi_ji(x_i)."""
        spline = torch.einsum("bim,oim->boi", self.bases(x), self.scaled_spline_weight())
        return self.base_weight * F.silu(x).unsqueeze(1) + spline

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = F.linear(F.silu(x), self.base_weight)
        spline = F.linear(self.bases(x).reshape(x.shape[0], -1), self.scaled_spline_weight().reshape(self.n_out, -1))
        return base + spline

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, grid_size: int | None = None, margin: float = 0.01) -> None:
        """Move the knots to the data ``x`` (B, n_in), optionally to a finer ``grid_size`` (pykan's
        grid extension), and refit the spline coefficients so that every edge's spline part keeps
        its values on ``x`` (least squares on the new bases)."""
        old = torch.einsum("bim,oim->bio", self.bases(x), self.scaled_spline_weight())  # (B, in, out)
        if grid_size is not None and grid_size != self.grid_size:
            self.grid_size = int(grid_size)
            self.grid = torch.empty(self.n_in, self.grid_size + 2 * self.order + 1, dtype=self.grid.dtype)
            self.spline_weight = nn.Parameter(torch.empty(self.n_out, self.n_in, self.grid_size + self.order,
                                                          dtype=self.spline_weight.dtype))
        xs = torch.sort(x, dim=0).values
        idx = torch.linspace(0, len(x) - 1, self.grid_size + 1).round().long()
        adaptive = xs[idx]
        step = (xs[-1] - xs[0] + 2 * margin) / self.grid_size
        uniform = torch.arange(self.grid_size + 1, dtype=x.dtype)[:, None] * step + xs[0] - margin
        grid = self.grid_eps * uniform + (1.0 - self.grid_eps) * adaptive
        ext = torch.arange(1, self.order + 1, dtype=x.dtype)[:, None] * step
        grid = torch.cat([grid[:1] - ext.flip(0), grid, grid[-1:] + ext], dim=0)
        self.grid.copy_(grid.T)
        coeff = self._fit_coefficients(x, old)  # (out, in, m), scaled
        scaler = torch.where(self.spline_scaler.abs() > 1e-12, self.spline_scaler, torch.ones_like(self.spline_scaler))
        self.spline_scaler.copy_(scaler)
        self.spline_weight.copy_(coeff / scaler.unsqueeze(-1))

    def _fit_coefficients(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Least-squares coefficients (out, in, m) with bases(x) @ c = y (B, in, out), in float64."""
        a = self.bases(x.double() if self.grid.dtype == torch.float64 else x).double().transpose(0, 1)
        sol = torch.linalg.lstsq(a, y.double().transpose(0, 1), driver="gelsd").solution  # (in, m, out)
        return sol.permute(2, 0, 1).to(self.spline_weight.dtype)


class KAN(nn.Module):
    """Stacked :class:`KANLinear` layers of ``widths`` (e.g. ``[2, 5, 1]``)."""

    def __init__(self, widths: list[int], grid_size: int = 5, order: int = 3,
                 grid_range: tuple[float, float] = (-1.0, 1.0)) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [KANLinear(a, b, grid_size, order, grid_range) for a, b in zip(widths[:-1], widths[1:])]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, grid_size: int | None = None) -> None:
        """Move every layer's knots to the inputs it sees on ``x`` (optionally to a finer
        ``grid_size``), outputs unchanged up to the least-squares refit."""
        for layer in self.layers:
            layer.update_grid(x, grid_size)
            x = layer(x)


def fit_regression(net: KAN, x: torch.Tensor, y: torch.Tensor, steps: int = 200, grid_updates: int = 2) -> float:
    """LBFGS on the mean squared error, moving the grid to the data ``grid_updates`` times; returns the MSE."""
    opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=20, history_size=20, line_search_fn="strong_wolfe")
    every = max(steps // (grid_updates + 1), 1)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.mse_loss(net(x), y)
        loss.backward()
        return loss

    for i in range(steps):
        if i and i % every == 0 and grid_updates:
            net.update_grid(x)
            grid_updates -= 1
        opt.step(closure)
    with torch.no_grad():
        return float(F.mse_loss(net(x), y))


class NumpyKAN:
    """Float64 numpy copy of a trained :class:`KAN` for inference: the same Cox-de Boor and
    SiLU arithmetic without torch's per-operation overhead (a live step scores one row). The knot
    differences of each Cox-de Boor step are computed once (the same numbers every call)."""

    def __init__(self, net: KAN) -> None:
        with torch.no_grad():
            self.layers = [(layer.grid.double().numpy(), layer.order, layer.base_weight.double().numpy(),
                            layer.scaled_spline_weight().double().reshape(layer.n_out, -1).numpy())
                           for layer in net.layers]
        self._steps = [self.knot_steps(g, order) for g, order, _, _ in self.layers]

    @staticmethod
    def knot_steps(g: np.ndarray, order: int) -> list[tuple[np.ndarray, ...]]:
        """Per step k: (lower knots, their span, upper knots, their span) of the recursion."""
        return [(g[:, : -(k + 1)], g[:, k:-1] - g[:, : -(k + 1)], g[:, k + 1:], g[:, k + 1:] - g[:, 1:-k])
                for k in range(1, order + 1)]

    @staticmethod
    def bases(x: np.ndarray, g: np.ndarray, order: int,
              steps: list[tuple[np.ndarray, ...]] | None = None) -> np.ndarray:
        x = x[:, :, None]
        b = ((x >= g[:, :-1]) & (x < g[:, 1:])).astype(np.float64)
        for lo, lo_span, hi, hi_span in steps or NumpyKAN.knot_steps(g, order):
            b = (x - lo) / lo_span * b[:, :, :-1] + (hi - x) / hi_span * b[:, :, 1:]
        return b

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for (grid, order, base_w, spline_w), steps in zip(self.layers, self._steps):
            silu = x * expit(x)  # stable for large |x|
            x = silu @ base_w.T + self.bases(x, grid, order, steps).reshape(len(x), -1) @ spline_w.T
        return x


class _LastRow(nn.Module):
    """Adapts a KAN to the (batch, bars, features) windows of the shared training loop."""

    def __init__(self, net: KAN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, -1, :])


class KANClassifier(StateDictFile):
    """``[F, hidden, 3]`` KAN on the last feature row behind the fold-model contract."""

    grid_size = 5

    def __init__(self, spec: ModelSpec, n_features: int) -> None:
        self.spec = spec
        with deterministic_torch(spec.seed):
            self.net = self._make(n_features)
        self._infer: NumpyKAN | None = None

    def _make(self, n_features: int) -> KAN:
        return KAN([n_features, self.spec.hidden, N_CLASSES], grid_size=self.grid_size)

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray, y_val: np.ndarray) -> dict:
        """Knots moved to the training rows, then early-stopped on ``(X_val, y_val)`` when given."""
        return self._fit(X, y, X_val, y_val, None)

    def refit(self, X: np.ndarray, y: np.ndarray, epochs: int) -> dict:
        """A fresh KAN (same seed) trained for exactly ``epochs`` on ``X``."""
        return self._fit(X, y, None, None, epochs)

    def _fit(self, X, y, X_val, y_val, epochs: int | None) -> dict:
        rows = np.ascontiguousarray(X[:, -1:, :])
        with deterministic_torch(self.spec.seed):
            self.net = self._make(rows.shape[2])
            self.net.update_grid(torch.as_tensor(rows[:, 0, :], dtype=torch.float32))
            loss_fn = nn.CrossEntropyLoss(weight=torch.as_tensor(class_weights(y), dtype=torch.float32))
            xv = None if X_val is None else np.ascontiguousarray(X_val[:, -1:, :])
            yv = None if y_val is None else y_val.astype(np.int64)
            info = fit_net(_LastRow(self.net), rows, y.astype(np.int64), loss_fn, self.spec, "kan", xv, yv, epochs)
        self._infer = None
        return info

    def _inference_net(self) -> NumpyKAN:
        if self._infer is None:
            self._infer = NumpyKAN(self.net)
        return self._infer

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = self._inference_net()(np.asarray(X[:, -1, :], dtype=np.float64))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


class KANOnline:
    """Per-bar partial fit of a ``[F, hidden, 3]`` KAN with River's one-sample interface
    (``learn_one`` / ``predict_proba_one`` on dicts): inputs standardised by running means and
    variances (Welford, the current row included, as River's ``StandardScaler``) and clipped to
    the grid [-3, 3]; one Adam step (float64, one thread) per learned row."""

    def __init__(self, hidden: int = 4, lr: float = 1e-2, seed: int = 0) -> None:
        self.hidden, self.lr, self.seed = hidden, lr, seed
        self.net: KAN | None = None
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def _build(self, n_features: int) -> None:
        torch.manual_seed(self.seed)
        self.net = KAN([n_features, self.hidden, N_CLASSES], grid_range=(-3.0, 3.0)).double()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        self.mean, self.m2 = np.zeros(n_features), np.zeros(n_features)

    def _scaled(self, v: np.ndarray) -> torch.Tensor:
        std = np.sqrt(self.m2 / self.n) if self.n else np.ones_like(v)
        z = np.where(std > 0, (v - self.mean) / np.where(std > 0, std, 1.0), 0.0)
        return torch.as_tensor(np.clip(z, -3.0, 3.0))[None]

    def learn_one(self, x: dict, y: int) -> None:
        v = np.fromiter(x.values(), dtype=float)
        if self.net is None:
            self._build(len(v))
        self.n += 1
        delta = v - self.mean
        self.mean = self.mean + delta / self.n
        self.m2 = self.m2 + delta * (v - self.mean)
        with inference_threads(1):
            self.opt.zero_grad()
            loss = F.cross_entropy(self.net(self._scaled(v)), torch.tensor([int(y)]))
            loss.backward()
            self.opt.step()

    def predict_proba_one(self, x: dict) -> dict[int, float]:
        if self.net is None:
            return {k: 1.0 / N_CLASSES for k in range(N_CLASSES)}
        with torch.no_grad(), inference_threads(1):
            p = torch.softmax(self.net(self._scaled(np.fromiter(x.values(), dtype=float)))[0], dim=0).numpy()
        return {k: float(p[k]) for k in range(N_CLASSES)}


def plot_edges(net: KAN, folder: str | Path, names: list[str] | None = None, points: int = 200) -> list[Path]:
    """One PNG per layer with every learned edge function phi_ji over its grid; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with torch.no_grad():
        for li, layer in enumerate(net.layers):
            g = layer.grid
            lo, hi = g[:, layer.order], g[:, -layer.order - 1]
            t = torch.linspace(0, 1, points, dtype=g.dtype)[:, None]
            x = lo + (hi - lo) * t  # (points, n_in)
            phi = layer.edges(x).numpy()  # (points, out, in)
            fig, axes = plt.subplots(layer.n_out, layer.n_in, squeeze=False,
                                     figsize=(1.6 * layer.n_in + 1, 1.2 * layer.n_out + 1))
            for j in range(layer.n_out):
                for i in range(layer.n_in):
                    ax = axes[j][i]
                    ax.plot(x[:, i].numpy(), phi[:, j, i], lw=1)
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if j == 0:
                        ax.set_title(names[i] if li == 0 and names else f"in {i}", fontsize=6)
            fig.suptitle(f"KAN layer {li}: edge functions (rows: outputs, columns: inputs)", fontsize=8)
            path = folder / f"kan_layer{li}.png"
            fig.savefig(path, dpi=80)
            plt.close(fig)
            paths.append(path)
    return paths
