"""Deflated Sharpe, expected max Sharpe, PBO (CSCV) and the trade bootstrap against ML_RIGOR §1.4.

Assumptions behind the §1.4 tables, worked out from the formulas (and checked below):
- per-period SR = annual SR / √252, T = years · 252 daily returns;
- returns normal: skew γ₃ = 0, raw kurtosis γ₄ = 3;
- V[SR_n] = 1/T, the sampling variance of the Sharpe ratio of a zero-skill strategy over T bars;
- N = 1 means no selection: SR₀ = 0;
- γ = Euler–Mascheroni (0.5772...). With V = 1/(T−1) instead the 1-year N=100 entry would read 2.54.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from btedge.sweeps.stats import (
    bootstrap_trade_returns,
    deflated_sharpe_for_grid,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe_ratio,
    sharpe_ratio,
)

YEAR = 252


@pytest.mark.parametrize("n_trials, expected", [(1, 0.995), (10, 0.85), (100, 0.53), (1000, 0.26)])
def test_dsr_table_ml_rigor(n_trials: int, expected: float) -> None:
    T = 3 * YEAR
    res = deflated_sharpe_ratio(1.5 / math.sqrt(YEAR), n_trials, T, sr_variance=1.0 / T)
    assert res.dsr == pytest.approx(expected, abs=0.005)
    assert res.n_trials == n_trials and res.n_obs == T


@pytest.mark.parametrize(
    "n_trials, one_year, five_years", [(10, 1.58, 0.70), (100, 2.53, 1.13), (1000, 3.26, 1.46)]
)
def test_expected_max_sharpe_table_analytic(n_trials: int, one_year: float, five_years: float) -> None:
    for years, expected in ((1, one_year), (5, five_years)):
        T = years * YEAR
        annual = expected_max_sharpe(n_trials, 1.0 / T) * math.sqrt(YEAR)
        assert annual == pytest.approx(expected, abs=0.006)  # the table is rounded: 1.5746 reads 1.58


def _mc_max_sharpe(n_trials: int, n_obs: int, reps: int, rng: np.random.Generator) -> float:
    maxima = []
    for _ in range(reps):
        r = rng.standard_normal((n_obs, n_trials)).astype(np.float32)
        sr = r.mean(axis=0) / r.std(axis=0, ddof=1)
        maxima.append(sr.max())
    return float(np.mean(maxima) * math.sqrt(YEAR))


@pytest.mark.parametrize("n_trials, one_year, five_years", [(10, 1.58, 0.70), (100, 2.53, 1.13), (1000, 3.26, 1.46)])
def test_expected_max_sharpe_monte_carlo(n_trials: int, one_year: float, five_years: float) -> None:
    """Seeded simulation of N zero-skill daily strategies (seed 12345: 0.6-2.2 % below the table)."""
    rng = np.random.default_rng(12345)
    reps = max(50, 50_000 // n_trials)
    mc1 = _mc_max_sharpe(n_trials, YEAR, reps, rng)
    mc5 = _mc_max_sharpe(n_trials, 5 * YEAR, max(40, reps // 5), rng)
    assert mc1 == pytest.approx(one_year, rel=0.04)
    assert mc5 == pytest.approx(five_years, rel=0.04)


def test_psr_non_normal_returns_lowers_confidence() -> None:
    sr = 0.1
    normal = probabilistic_sharpe_ratio(sr, 0.0, 500)
    fat_left = probabilistic_sharpe_ratio(sr, 0.0, 500, skew=-2.0, kurtosis=10.0)
    assert fat_left < normal
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe_ratio(sr, 0.0, 1)


def test_dsr_for_grid_uses_best_column_and_cross_sectional_variance() -> None:
    rng = np.random.default_rng(3)
    matrix = pd.DataFrame(rng.normal(0, 0.01, (756, 20)))
    matrix[7] += 0.002
    res = deflated_sharpe_for_grid(matrix)
    srs = [sharpe_ratio(matrix[c]) for c in matrix]
    assert res.sr == pytest.approx(max(srs))
    assert res.sr_variance == pytest.approx(np.var(srs, ddof=1))
    assert res.n_trials == 20 and res.n_obs == 756
    assert 0.0 <= res.dsr <= 1.0


def _noise(n_obs: int, n_configs: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, (n_obs, n_configs))


def test_pbo_noise_is_a_coin_flip() -> None:
    """One noise grid's PBO swings widely (the halvings share blocks); over 20 grids it averages ~0.5."""
    results = [pbo_cscv(_noise(400, 30, seed=s), n_blocks=8) for s in range(20)]
    assert results[0].n_combinations == math.comb(8, 4)
    assert np.mean([r.pbo for r in results]) == pytest.approx(0.5, abs=0.1)


def test_pbo_low_when_one_config_has_a_real_edge() -> None:
    matrix = _noise(1000, 30, seed=2)
    matrix[:, 4] += 0.004  # daily Sharpe 0.4: a genuine, persistent edge
    assert pbo_cscv(matrix, n_blocks=10).pbo < 0.05


def test_pbo_near_one_when_in_sample_winner_loses_out_of_sample() -> None:
    """Each config's returns sum to zero over the whole sample: an IS winner must be an OOS loser."""
    matrix = _noise(1000, 30, seed=3)
    matrix -= matrix.mean(axis=0)
    assert pbo_cscv(matrix, n_blocks=10).pbo > 0.95


def test_pbo_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="n_blocks must be even"):
        pbo_cscv(_noise(100, 5, 0), n_blocks=7)
    with pytest.raises(ValueError, match="at least 2 configurations"):
        pbo_cscv(_noise(100, 1, 0), n_blocks=4)
    bad = _noise(100, 5, 0)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pbo_cscv(bad, n_blocks=4)


def test_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    trades = np.random.default_rng(5).normal(0.002, 0.01, 200)
    a = bootstrap_trade_returns(trades, n_boot=500, seed=9)
    b = bootstrap_trade_returns(trades, n_boot=500, seed=9)
    assert a == b
    assert a.ci_low < a.mean < a.ci_high
    losers = bootstrap_trade_returns(-np.abs(trades), n_boot=200, seed=1)
    assert losers.prob_mean_le_zero == 1.0
    assert bootstrap_trade_returns([], n_boot=10).n_trades == 0


def _naive_pbo_logits(matrix: np.ndarray, n_blocks: int) -> np.ndarray:
    """CSCV written out plainly: concatenate the blocks of each halving and rank with scipy."""
    import itertools

    from scipy.stats import rankdata

    blocks = np.array_split(np.arange(len(matrix)), n_blocks)
    logits = []
    for chosen in itertools.combinations(range(n_blocks), n_blocks // 2):
        is_rows = np.concatenate([blocks[b] for b in chosen])
        oos_rows = np.concatenate([blocks[b] for b in range(n_blocks) if b not in chosen])
        is_sr = [sharpe_ratio(matrix[is_rows, j]) for j in range(matrix.shape[1])]
        oos_sr = [sharpe_ratio(matrix[oos_rows, j]) for j in range(matrix.shape[1])]
        omega = rankdata(oos_sr)[int(np.argmax(is_sr))] / (matrix.shape[1] + 1)
        logits.append(math.log(omega / (1 - omega)))
    return np.array(logits)


def test_pbo_matches_a_plain_implementation() -> None:
    matrix = _noise(130, 6, seed=11)
    matrix[:, 2] += 0.001
    res = pbo_cscv(matrix, n_blocks=6)
    expected = _naive_pbo_logits(matrix, 6)
    np.testing.assert_allclose(res.logits, expected, rtol=1e-9)
    assert res.pbo == pytest.approx(float((expected <= 0).mean()))
