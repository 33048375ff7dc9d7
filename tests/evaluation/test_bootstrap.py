"""Circular block bootstrap: replicate structure, point estimates equal the plain statistics, coverage."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from btedge.evaluation import bootstrap as B
from btedge.metrics import signal as sig


def test_replicates_are_wrapped_blocks_of_n_bars():
    boot = B.BlockBootstrap(50, block=7, n_boot=30, seed=1)
    for w in boot.weights():
        assert w.shape[1] == 50 and (w.sum(axis=1) == 50).all()
    # with block = n every replicate is a rotation: every bar drawn exactly once
    rot = B.BlockBootstrap(20, block=20, n_boot=5, seed=2)
    assert all((w == 1).all() for w in rot.weights())


def test_same_seed_same_replicates_so_differences_are_paired():
    a = np.concatenate(list(B.BlockBootstrap(40, 5, 50, seed=3).weights()))
    b = np.concatenate(list(B.BlockBootstrap(40, 5, 50, seed=3).weights()))
    assert (a == b).all()


def test_point_estimates_equal_the_plain_statistics():
    rng = np.random.default_rng(0)
    r = rng.normal(0.001, 0.01, 300)
    ones = np.ones((1, 300))
    assert B.weighted_sharpe(r, 252)(ones)[0] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    assert B.weighted_sharpe(np.zeros(10), 252)(np.ones((1, 10)))[0] == 0.0  # never trading: Sharpe 0
    y, p = rng.choice(3, 300), rng.choice(3, 300)
    assert B.weighted_balanced_accuracy(y, p)(ones)[0] == pytest.approx(sig.balanced_accuracy(y, p))
    x, z = rng.normal(size=300), rng.normal(size=300)
    spear = sps.spearmanr(x, z).statistic
    assert B.weighted_correlation(sps.rankdata(x), sps.rankdata(z))(ones)[0] == pytest.approx(spear)


def test_interval_covers_the_true_mean_of_an_ar1_series_mostly():
    rng = np.random.default_rng(5)
    hits = 0
    for trial in range(20):
        e = rng.normal(size=400)
        x = np.empty(400)
        x[0] = e[0]
        for t in range(1, 400):
            x[t] = 0.5 * x[t - 1] + e[t]
        iv = B.BlockBootstrap(400, 0, 200, seed=trial).interval(B.weighted_mean(x))
        hits += iv.low <= 0.0 <= iv.high
    assert hits >= 15  # nominal 95%; blocks keep the AR(1) dependence


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="at least 2 bars"):
        B.BlockBootstrap(1)
    with pytest.raises(ValueError, match="n_boot"):
        B.BlockBootstrap(10, n_boot=0)
