"""Overfitting statistics for a parameter grid: deflated Sharpe ratio, PBO via CSCV, trade bootstrap.

All Sharpe ratios here are **per period** (mean / standard deviation of per-bar returns), as in
Bailey & López de Prado; annualise only for display.

See:
    - Bailey, D. H. and López de Prado, M. (2014), "The Deflated Sharpe Ratio: Correcting for
      Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5).
    - Bailey, Borwein, López de Prado and Zhu (2017), "The Probability of Backtest Overfitting",
      Journal of Computational Finance 20(4) (combinatorially symmetric cross-validation, CSCV).
"""
from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

log = logging.getLogger(__name__)

EULER_GAMMA = 0.5772156649015329
#: Beyond this many CSCV halvings the blocks are too many; C(16, 8) = 12,870.
MAX_CSCV_COMBINATIONS = 200_000
#: CSCV works on (halvings × configurations) arrays of about this many cells at a time.
CSCV_CHUNK_CELLS = 262_144


def sharpe_ratios(rows: np.ndarray) -> np.ndarray:
    """Per-period Sharpe ratio of each row of a 2-D array of finite returns (mean / sample std,
    ddof=1); NaN when undefined (fewer than 2 returns, zero deviation)."""
    rows = np.asarray(rows, dtype=float)
    if rows.shape[-1] < 2:
        return np.full(rows.shape[:-1], math.nan)
    std = rows.std(axis=-1, ddof=1)
    return np.where(std > 0, rows.mean(axis=-1) / np.where(std > 0, std, 1.0), math.nan)


def sharpe_ratio(returns: np.ndarray | pd.Series) -> float:
    """Per-period Sharpe ratio (mean / sample std, ddof=1) of the finite returns; NaN when undefined."""
    values = np.asarray(returns, dtype=float)
    return float(sharpe_ratios(values[np.isfinite(values)][None, :])[0])


def expected_max_sharpe(n_trials: int, sr_variance: float = 1.0) -> float:
    """Expected maximum of ``n_trials`` zero-skill Sharpe ratios with variance ``sr_variance``.

    Formula:
        E[max SR] ≈ √V · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))), γ = Euler–Mascheroni;
        0 for N = 1.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials!r}")
    if sr_variance < 0:
        raise ValueError(f"sr_variance must be >= 0, got {sr_variance!r}")
    if n_trials == 1:
        return 0.0
    z = (1 - EULER_GAMMA) * sps.norm.ppf(1 - 1 / n_trials) + EULER_GAMMA * sps.norm.ppf(
        1 - 1 / (n_trials * math.e)
    )
    return float(math.sqrt(sr_variance) * z)


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """P(true SR > ``sr_benchmark``) given an observed per-period ``sr`` over ``n_obs`` returns.

    Formula:
        PSR = Φ((SR̂ − SR*)·√(T − 1) / √(1 − γ₃·SR̂ + (γ₄ − 1)/4·SR̂²)),
        γ₄ raw kurtosis (3 = normal).
    """
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2 returns, got {n_obs!r}")
    denom_sq = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if not denom_sq > 0:
        raise ValueError(
            f"PSR undefined: 1 - skew*SR + (kurtosis-1)/4*SR^2 = {denom_sq:.4g} <= 0 "
            f"(skew={skew:.3g}, kurtosis={kurtosis:.3g}, SR={sr:.3g}); check the returns"
        )
    return float(sps.norm.cdf((sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denom_sq)))


@dataclass(frozen=True)
class DeflatedSharpe:
    """The selected configuration's Sharpe deflated for the number of configurations tried."""

    sr: float
    sr0: float
    dsr: float
    n_trials: int
    n_obs: int
    sr_variance: float
    skew: float
    kurtosis: float


def deflated_sharpe_ratio(
    sr: float,
    n_trials: int,
    n_obs: int,
    sr_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> DeflatedSharpe:
    """Deflated Sharpe ratio: PSR against the expected maximum Sharpe of ``n_trials`` noise trials.

    Args:
        sr: per-period Sharpe ratio of the selected configuration.
        n_trials: number of configurations tried (N).
        n_obs: number of returns (T).
        sr_variance: variance of the per-period Sharpe ratios across the N trials (V[SR_n]).
        skew, kurtosis: of the selected configuration's returns (raw kurtosis, 3 = normal).
    """
    sr0 = expected_max_sharpe(n_trials, sr_variance)
    dsr = probabilistic_sharpe_ratio(sr, sr0, n_obs, skew, kurtosis)
    return DeflatedSharpe(sr, sr0, dsr, n_trials, n_obs, sr_variance, skew, kurtosis)


def deflated_sharpe_for_grid(returns: pd.DataFrame) -> DeflatedSharpe:
    """DSR of the best column (highest per-period Sharpe) of a T×N return matrix.

    V[SR_n] is the sample variance of the N columns' Sharpe ratios; skew and kurtosis are those of
    the best column.
    """
    matrix = _as_matrix(returns, "returns")
    srs = sharpe_ratios(np.ascontiguousarray(matrix.T))  # one row per column: each its own contiguous run
    if not np.isfinite(srs).any():
        raise ValueError("no column of the return matrix has a defined Sharpe ratio (all flat?)")
    best = int(np.nanargmax(srs))
    finite = srs[np.isfinite(srs)]
    variance = float(finite.var(ddof=1)) if finite.size > 1 else 0.0
    col = matrix[:, best]
    skew = float(sps.skew(col, bias=False))
    kurt = float(sps.kurtosis(col, fisher=False, bias=False))
    return deflated_sharpe_ratio(float(srs[best]), matrix.shape[1], matrix.shape[0], variance, skew, kurt)


@dataclass(frozen=True)
class PBOResult:
    """Probability of backtest overfitting and the logits it is the share of (λ ≤ 0)."""

    pbo: float
    logits: np.ndarray
    n_configs: int
    n_blocks: int
    n_combinations: int


def _as_matrix(returns: pd.DataFrame | np.ndarray, what: str) -> np.ndarray:
    matrix = np.asarray(returns, dtype=float)
    if matrix.ndim != 2:
        raise ValueError(
            f"{what} must be a 2-D T×N matrix (rows = bars, columns = configs), got shape {matrix.shape}"
        )
    if not np.isfinite(matrix).all():
        raise ValueError(f"{what} contains NaN/inf: fill missing bars with 0 (flat) before calling")
    return matrix


def _block_moments(matrix: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block sums, sums of squares and counts (S×N, S×N, S); blocks as ``np.array_split``."""
    sizes = [len(block) for block in np.array_split(np.arange(matrix.shape[0]), n_blocks)]
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    sums = np.empty((n_blocks, matrix.shape[1]))
    squares = np.empty_like(sums)
    for k in range(n_blocks):  # block by block: no T×N temporary
        block = matrix[bounds[k]:bounds[k + 1]]
        sums[k] = block.sum(axis=0)
        squares[k] = (block * block).sum(axis=0)
    return sums, squares, np.diff(bounds).astype(float)


def _sharpe_from_moments(sums: np.ndarray, squares: np.ndarray, counts: np.ndarray) -> np.ndarray:
    n = counts[:, None]
    mean = sums / n
    var = np.maximum(squares - sums * mean, 0.0) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = np.where(var > 0, mean / np.sqrt(var), 0.0)
    return sr


def pbo_cscv(returns: pd.DataFrame | np.ndarray, n_blocks: int = 16) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation.

    Formula:
        split the T×N matrix into S blocks; for every halving (C(S, S/2)): n* = argmax IS Sharpe,
        ω = OOS rank of n* / (N + 1) (rank 1 = worst, ties averaged), λ = ln(ω / (1 − ω));
        PBO = share of halvings with λ ≤ 0.
    """
    matrix = _as_matrix(returns, "returns")
    n_obs, n_configs = matrix.shape
    if n_configs < 2:
        raise ValueError(f"PBO needs at least 2 configurations (columns), got {n_configs}")
    if n_blocks < 2 or n_blocks % 2 or n_blocks * 2 > n_obs:
        raise ValueError(
            f"n_blocks must be even, >= 2 and <= T/2 = {n_obs // 2} (at least 2 bars a block), got {n_blocks}"
        )
    n_comb = math.comb(n_blocks, n_blocks // 2)
    if n_comb > MAX_CSCV_COMBINATIONS:
        raise ValueError(f"n_blocks={n_blocks} gives {n_comb} halvings; use n_blocks <= 18")
    sums, squares, counts = _block_moments(matrix, n_blocks)
    mask = np.zeros((n_comb, n_blocks))
    for row, chosen in enumerate(itertools.combinations(range(n_blocks), n_blocks // 2)):
        mask[row, list(chosen)] = 1.0
    rank = np.empty(n_comb)
    step = max(1, CSCV_CHUNK_CELLS // n_configs)
    for lo in range(0, n_comb, step):  # halvings a chunk at a time: (chunk × N) arrays stay in cache
        chosen, inv = mask[lo:lo + step], 1.0 - mask[lo:lo + step]
        is_sr = _sharpe_from_moments(chosen @ sums, chosen @ squares, chosen @ counts)
        oos_sr = _sharpe_from_moments(inv @ sums, inv @ squares, inv @ counts)
        best_oos = oos_sr[np.arange(len(chosen)), is_sr.argmax(axis=1)][:, None]
        rank[lo:lo + step] = (oos_sr < best_oos).sum(axis=1) + 0.5 * ((oos_sr == best_oos).sum(axis=1) - 1) + 1
    omega = rank / (n_configs + 1)
    logits = np.log(omega / (1 - omega))
    return PBOResult(float((logits <= 0).mean()), logits, n_configs, n_blocks, n_comb)


@dataclass(frozen=True)
class TradeBootstrap:
    """Bootstrap of per-trade returns: the mean trade and its confidence interval."""

    n_trades: int
    mean: float
    ci_low: float
    ci_high: float
    prob_mean_le_zero: float
    n_boot: int


def bootstrap_trade_returns(
    trade_returns: np.ndarray | pd.Series, n_boot: int = 2000, seed: int = 0, ci: float = 0.95
) -> TradeBootstrap:
    """Resample trades with replacement ``n_boot`` times (seeded) and summarise the mean trade."""
    values = np.asarray(trade_returns, dtype=float)
    values = values[np.isfinite(values)]
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci!r}")
    if values.size == 0:
        return TradeBootstrap(0, math.nan, math.nan, math.nan, math.nan, n_boot)
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // values.size)
    means = np.concatenate([
        values[rng.integers(0, values.size, size=(min(chunk, n_boot - start), values.size))].mean(axis=1)
        for start in range(0, n_boot, chunk)
    ])
    lo, hi = np.quantile(means, [(1 - ci) / 2, (1 + ci) / 2])
    return TradeBootstrap(
        int(values.size), float(values.mean()), float(lo), float(hi), float((means <= 0).mean()), n_boot
    )
