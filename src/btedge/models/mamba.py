"""A selective state-space (Mamba-style) direction classifier in pure torch (no CUDA kernels).

One block, after ``johnma2006/mamba-minimal`` and the official ``mamba_simple.py``::

    (x, res) = split(in_proj(u));  x = SiLU(causal depthwise conv_4(x))
    (delta, B, C) = split(x_proj(x));  delta = softplus(dt_proj(delta))      # input-dependent
    h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t;   y_t = C_t h_t + D x_t    (sequential scan)
    out = out_proj(y * SiLU(res))

with ``A = -exp(A_log)``, ``A_log = log(1..d_state)`` (S4D-Real), ``D = 1`` and ``dt_proj``'s bias
the inverse softplus of dt ~ logU[1e-3, 1e-1]. The model is a linear encoder, ``layers`` residual
blocks ``u + block(RMSNorm(u))`` and a linear decoder on the last bar; ``hidden`` is d_model
(d_inner = 2 d_model, d_state = 8). Unlike S4D the recurrence depends on the input, so there is
no convolution kernel: windows are scanned bar by bar (keep ``seq_len`` small on CPU).

See:
  - Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
    arXiv:2312.00752
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from btedge.models.torch_models import N_CLASSES, TorchClassifier

D_STATE, EXPAND, D_CONV = 8, 2, 4


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class MambaBlock(nn.Module):
    def __init__(self, d_model: int, d_state: int = D_STATE) -> None:
        super().__init__()
        d_inner, self.dt_rank = EXPAND * d_model, math.ceil(d_model / 16)
        self.d_inner = d_inner
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv = nn.Conv1d(d_inner, d_inner, D_CONV, groups=d_inner, padding=D_CONV - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)
        dt = torch.exp(torch.rand(d_inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """(B, L, d_model) -> (B, L, d_model), causal."""
        length = u.shape[1]
        x, res = self.in_proj(u).split(self.d_inner, dim=-1)
        x = F.silu(self.conv(x.transpose(1, 2))[..., :length].transpose(1, 2))
        return self.out_proj(self.scan(x) * F.silu(res))

    def scan(self, x: torch.Tensor) -> torch.Tensor:
        a = -torch.exp(self.A_log)  # (d_inner, n)
        delta, b, c = self.x_proj(x).split([self.dt_rank, a.shape[1], a.shape[1]], dim=-1)
        delta = F.softplus(self.dt_proj(delta))  # (B, L, d_inner)
        decay = torch.exp(delta.unsqueeze(-1) * a)  # (B, L, d_inner, n)
        drive = (delta * x).unsqueeze(-1) * b.unsqueeze(2)  # (B, L, d_inner, n)
        h = torch.zeros_like(drive[:, 0])
        ys = []
        for t in range(x.shape[1]):
            h = decay[:, t] * h + drive[:, t]
            ys.append((h * c[:, t].unsqueeze(1)).sum(-1))
        return torch.stack(ys, dim=1) + x * self.D


class MambaNet(nn.Module):
    def __init__(self, n_features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.encoder = nn.Linear(n_features, hidden)
        self.blocks = nn.ModuleList([MambaBlock(hidden) for _ in range(layers)])
        self.norms = nn.ModuleList([RMSNorm(hidden) for _ in range(layers)])
        self.norm = RMSNorm(hidden)
        self.decoder = nn.Linear(hidden, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.encoder(x)
        for norm, block in zip(self.norms, self.blocks):
            u = u + block(norm(u))
        return self.decoder(self.norm(u[:, -1]))


class MambaClassifier(TorchClassifier):
    """The selective SSM behind the fold-model contract (kind ``mamba``), trained as the other
    torch members (early stopping, refit, state_dict)."""

    def _make_net(self, n_features: int) -> nn.Module:
        return MambaNet(n_features, self.spec.hidden, self.spec.layers)
