"""Positive controls of the members that tests/support/planted_bars.positive_control does not
reach (it trains one fold model): the regime indicators find planted calm and volatile blocks,
and StackedSignal learns the planted bars; balanced accuracy out of sample >= 0.8."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from btedge.indicators.regime import HMMRegime, MarkovRegime
from btedge.indicators.stacked import StackedSignal
from btedge.testkit import indicator_lines
from tests.support.planted_bars import planted_ohlcv

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def planted_regimes(n: int = 1200, seed: int = 0, calm: float = 0.001, volatile: float = 0.004):
    """Bars whose returns switch between a calm and a volatile block (30-150 bars each); the
    planted regime of each bar (0 calm, 1 volatile)."""
    rng = np.random.default_rng(seed)
    regime = np.zeros(n, dtype=int)
    t, state = 0, 0
    while t < n:
        length = int(rng.integers(30, 151))
        regime[t : t + length] = state
        t, state = t + length, 1 - state
    r = np.where(regime == 1, volatile, calm) * rng.standard_normal(n)
    close = 100.0 * np.exp(np.cumsum(r))
    open_ = np.concatenate(([close[0]], close[:-1]))
    df = pd.DataFrame({"open": open_, "high": np.maximum(open_, close), "low": np.minimum(open_, close),
                       "close": close, "volume": np.full(n, 1000.0)},
                      index=pd.date_range("2024-01-01", periods=n, freq="1min"))
    return df, regime


@pytest.mark.parametrize("cls", [HMMRegime, pytest.param(MarkovRegime, marks=pytest.mark.slow)])
def test_regime_finds_planted_calm_and_volatile_blocks_out_of_sample(cls):
    df, truth = planted_regimes()
    lines = indicator_lines(df, lambda s: cls(s.data, train_bars=600, retrain_every=200))
    oos = np.arange(600, len(df))
    assert np.isfinite(lines["regime"][oos]).all()
    assert balanced_accuracy_score(truth[oos], lines["regime"][oos].astype(int)) >= 0.8


@pytest.mark.slow
def test_stacked_signal_learns_the_planted_bars_out_of_sample(tmp_path):
    df = planted_ohlcv(1200)
    make = lambda s: StackedSignal(s.data, members="xgb,kan,online", cache_dir=str(tmp_path), horizon=1,  # noqa: E731
                                   train_bars=600, retrain_every=200, seq_len=8, hidden=4, epochs=5,
                                   min_samples=50, meta_min_samples=50)
    lines = indicator_lines(df, make)
    truth = np.sign(np.log(df["volume"].to_numpy()) - 8.0)  # the planted class of each bar
    oos = np.arange(800, len(df) - 1)  # the meta-learner's first fold starts at the second boundary
    assert np.isfinite(lines["signal"][oos]).all()
    assert balanced_accuracy_score(truth[oos], lines["signal"][oos]) >= 0.8
