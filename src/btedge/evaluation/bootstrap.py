"""Circular block bootstrap of per-bar statistics (no backtrader import).

Bars of a forecast are serially dependent (overlapping labels, volatility clusters), so bars are
resampled in blocks: a replicate joins ``ceil(n / block)`` blocks of ``block`` consecutive bars
starting at uniform random bars, wrapping around the end (Politis & Romano 1992), cut to n.
A replicate is represented by how often it drew each bar (a weight vector), so every statistic
that is a function of weighted sums (means, ratios of sums, correlations) costs one matrix
product per chunk of replicates.

See:
  - Politis, D. N. and Romano, J. P. (1992), "A circular block-resampling procedure for
    stationary data", in *Exploring the Limits of Bootstrap*, Wiley
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

#: Replicate weights built per chunk, so memory stays ~ CHUNK * n floats.
CHUNK = 100


def default_block(n: int, horizon: int = 1) -> int:
    """Block length: the larger of 2 label horizons and sqrt(n) / 2 (at least 1, at most n)."""
    return int(min(max(n, 1), max(1, 2 * horizon, round(math.sqrt(n) / 2))))


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval."""

    value: float
    low: float
    high: float
    n: int

    def fmt(self, digits: int = 3, scale: float = 1.0) -> str:
        if not math.isfinite(self.value):
            return "-"
        v, lo, hi = (scale * x for x in (self.value, self.low, self.high))
        return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


class BlockBootstrap:
    """Replicate weights of a circular block bootstrap over ``n`` bars.

    Args:
      n: bars
      block: block length (``default_block`` if 0)
      n_boot: replicates
      seed: RNG seed (the same seed gives the same replicates, so two statistics on the same
        bars are resampled together: paired differences)
    """

    def __init__(self, n: int, block: int = 0, n_boot: int = 500, seed: int = 0) -> None:
        if n < 2:
            raise ValueError(f"a bootstrap needs at least 2 bars, got {n}")
        if n_boot < 1:
            raise ValueError(f"n_boot must be >= 1, got {n_boot}")
        self.n, self.block, self.n_boot, self.seed = n, block or default_block(n), n_boot, seed

    def weights(self) -> Iterator[np.ndarray]:
        """Chunks of (k, n) float arrays: how often each replicate drew each bar (rows sum to n)."""
        rng = np.random.default_rng(self.seed)
        n_blocks = -(-self.n // self.block)
        offsets = np.arange(self.block)
        for start in range(0, self.n_boot, CHUNK):
            k = min(CHUNK, self.n_boot - start)
            starts = rng.integers(0, self.n, size=(k, n_blocks))
            idx = ((starts[:, :, None] + offsets) % self.n).reshape(k, -1)[:, : self.n]
            yield np.stack([np.bincount(row, minlength=self.n) for row in idx]).astype(float)

    def interval(self, stat: Callable[[np.ndarray], np.ndarray], ci: float = 0.95) -> Interval:
        """``stat(W)`` maps (k, n) weights to k values; ``stat(ones)`` is the point estimate."""
        return self.intervals({"x": stat}, ci)["x"]

    def intervals(self, stats: dict[str, Callable[[np.ndarray], np.ndarray]], ci: float = 0.95) -> dict[str, Interval]:
        """Several statistics on the same replicates (one pass over the weights)."""
        ones = np.ones((1, self.n))
        points = {k: float(f(ones)[0]) for k, f in stats.items()}
        reps: dict[str, list[np.ndarray]] = {k: [] for k in stats}
        for w in self.weights():
            for k, f in stats.items():
                reps[k].append(f(w))
        out = {}
        for k in stats:
            r = np.concatenate(reps[k])
            r = r[np.isfinite(r)]
            lo, hi = np.quantile(r, [(1 - ci) / 2, (1 + ci) / 2]) if r.size else (math.nan, math.nan)
            out[k] = Interval(points[k], float(lo), float(hi), self.n)
        return out


# -- statistics as functions of replicate weights ------------------------------------------------
def weighted_mean(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    x = np.asarray(x, float)
    return lambda w: (w @ x) / w.sum(axis=1)


def weighted_sharpe(r: np.ndarray, periods_per_year: float) -> Callable[[np.ndarray], np.ndarray]:
    """Annualised Sharpe of per-bar returns (sample std, ddof 1); 0 for a flat (all-zero) series."""
    r = np.asarray(r, float)

    def stat(w: np.ndarray) -> np.ndarray:
        n = w.sum(axis=1)
        mean = (w @ r) / n
        var = np.maximum((w @ (r * r)) - n * mean * mean, 0.0) / (n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            sr = np.where(var > 0, mean / np.sqrt(var), np.where(mean == 0, 0.0, np.nan))
        return sr * math.sqrt(periods_per_year)  # never trading (all returns 0) counts as Sharpe 0
    return stat


def weighted_balanced_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int = 3) -> Callable:
    """Mean per-class recall over the classes present in the replicate."""
    y, pred = np.asarray(y, int), np.asarray(pred, int)
    hit = np.column_stack([(y == k) & (pred == k) for k in range(n_classes)]).astype(float)
    tot = np.column_stack([y == k for k in range(n_classes)]).astype(float)

    def stat(w: np.ndarray) -> np.ndarray:
        h, t = w @ hit, w @ tot
        with np.errstate(divide="ignore", invalid="ignore"):
            recall = np.where(t > 0, h / t, np.nan)
        return np.nanmean(recall, axis=1)
    return stat


def weighted_correlation(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Weighted Pearson correlation (pass ranks for a Spearman-type IC)."""
    x, y = np.asarray(x, float), np.asarray(y, float)

    def stat(w: np.ndarray) -> np.ndarray:
        n = w.sum(axis=1)
        mx, my = (w @ x) / n, (w @ y) / n
        cov = (w @ (x * y)) / n - mx * my
        vx, vy = (w @ (x * x)) / n - mx * mx, (w @ (y * y)) / n - my * my
        with np.errstate(divide="ignore", invalid="ignore"):
            return cov / np.sqrt(vx * vy)
    return stat


def mean_of(stats: list[Callable[[np.ndarray], np.ndarray]]) -> Callable[[np.ndarray], np.ndarray]:
    """Average of several statistics on the same replicate (e.g. over seeds)."""
    return lambda w: np.mean([s(w) for s in stats], axis=0)


def difference(a: Callable, b: Callable) -> Callable[[np.ndarray], np.ndarray]:
    """Paired difference a - b on the same replicate."""
    return lambda w: a(w) - b(w)
