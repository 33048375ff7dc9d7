"""Realised-volatility data: features use bars <= t only, the target bars t+1..t+h only."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from btedge.evaluation.volatility import har_data


def _bars(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.abs(rng.normal(0, 0.01, n)) + 1e-3
    return pd.DataFrame({"open": close, "high": close * (1 + spread), "low": close * (1 - spread), "close": close},
                        index=pd.date_range("2020-01-01", periods=n, freq="D"))


def test_features_are_causal_and_target_is_the_next_h_bars():
    df = _bars(120, 0)
    X, y = har_data(df, horizon=5)
    changed = df.copy()
    changed.iloc[80:, changed.columns.get_loc("high")] *= 1.2  # wider ranges from bar 80 on
    X2, y2 = har_data(changed, horizon=5)
    assert np.array_equal(X[:80], X2[:80], equal_nan=True)
    assert np.array_equal(y[:75], y2[:75], equal_nan=True) and not np.allclose(y[75:80], y2[75:80])
    var = np.log(df["high"] / df["low"]).to_numpy() ** 2 / (4 * np.log(2))
    assert y[10] == pytest.approx(np.log(var[11:16].mean()))
    assert X[30, 2] == pytest.approx(np.log(var[9:31].mean()))
    assert np.isnan(y[-5:]).all() and np.isnan(X[:21, 2]).all()
