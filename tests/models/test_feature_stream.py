"""FeatureStream (the live path) equals build_features (the batch path) bar for bar, on a whole
real file and on broken bars, without warnings and without keeping history."""
from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest

from btedge.models.features import FEATURES, FeatureSpec, FeatureStream, build_features
from tests.support.btc import BTC_1M, arrays
from tests.support.shared import require_shared


def _stream(bars: list[np.ndarray], spec: FeatureSpec = FeatureSpec()) -> np.ndarray:
    stream = FeatureStream(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the batch silences numpy's warnings; the stream raises none
        return np.array([stream.update(*bar) for bar in zip(*bars)])


def _assert_same(rows: np.ndarray, batch: np.ndarray, columns: tuple[str, ...]) -> None:
    assert rows.shape == batch.shape
    for j, name in enumerate(columns):
        np.testing.assert_array_equal(rows[:, j], batch[:, j], err_msg=f"column {name}")


def test_whole_real_file_streamed_bar_by_bar_equals_the_batch():
    df = pd.read_csv(require_shared(*BTC_1M))
    bars = arrays(df)
    batch = build_features(*bars)
    rows = _stream(bars)
    assert len(rows) > 40_000 and np.isfinite(rows[61:]).all()
    _assert_same(rows, batch, FEATURES)  # bit for bit; so also within the brief's 1e-12
    assert np.nanmax(np.abs(rows - batch)) <= 1e-12


def _broken_bars(n: int = 400) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o, h, low, v = c.copy(), c * 1.01, c * 0.99, rng.uniform(0, 10, n)
    h[120:190] = low[120:190] = c[120:190] = c[119]  # flat: zero stds, 0/0 volatility ratio
    v[10], v[11] = np.nan, -3.0
    c[200], h[230], low[240], c[250], c[260] = np.nan, np.nan, 0.0, 0.0, -1.0
    low[300], c[310], h[320] = np.inf, np.inf, -0.0
    return [o, h, low, c, v]


@pytest.mark.parametrize("spec", [FeatureSpec(), FeatureSpec(0.0, ("lrsi", "vol_ratio", "ret3", "sup_dist")),
                                  FeatureSpec(0.9, FEATURES[::-1])])
def test_broken_bars_give_the_batch_values_nan_inf_and_all(spec):
    bars = _broken_bars()
    with np.errstate(all="ignore"):
        batch = build_features(*bars, spec=spec)
    rows = _stream(bars, spec)
    assert (~np.isfinite(rows[62:])).any()  # the planted NaN / zero / inf bars do reach the rows
    _assert_same(rows, batch, spec.columns)


def test_stream_state_does_not_grow_with_the_bars():
    bars = arrays(pd.read_csv(require_shared(*BTC_1M), nrows=3000))
    stream = FeatureStream()
    tracemalloc.start()
    try:
        for bar in zip(*(a[:500] for a in bars)):
            stream.update(*bar)
        before = tracemalloc.get_traced_memory()[0]
        for bar in zip(*(a[500:] for a in bars)):
            stream.update(*bar)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2_000, f"the stream kept {grown} bytes over 2500 bars"
